package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/assistd/assistd/api"
	"github.com/assistd/assistd/storage"
)

const staffUsage = `usage: assistd staff add SID --name NAME --email EMAIL [--dept DEPT:agent|lead ...] [--admin] [--away] [--language pt-PT|en]
       assistd staff list
       assistd staff disable SID
       assistd staff token SID [--label LABEL]`

// staffCommand manages staff members from the command line, for an operator: the same checks as
// PUT /api/v1/staff/members/{sid}, on the configured database.
func staffCommand(ctx context.Context, cfg config, log *slog.Logger, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New(staffUsage)
	}
	sys, err := openSystem(ctx, cfg, log, false, "")
	if err != nil {
		return err
	}
	defer sys.Close()
	srv := sys.NewAPI()
	switch sub, rest := args[0], args[1:]; {
	case sub == "list" && len(rest) == 0:
		return listStaff(ctx, sys.Store, out)
	case sub == "add" && len(rest) >= 1:
		in, err := parseMemberFlags(rest[1:])
		if err != nil {
			return err
		}
		m, err := srv.PutMember(ctx, rest[0], in)
		if err != nil {
			return memberProblem(err)
		}
		fmt.Fprintf(out, "%s stored: %s <%s>%s\n", m.ID, m.Name, m.Email, describeAccess(m))
		return nil
	case sub == "disable" && len(rest) == 1:
		m, err := sys.Store.StaffMember(ctx, rest[0])
		if errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("staff disable: no member %q", rest[0])
		} else if err != nil {
			return err
		}
		inactive := false
		if _, err := srv.PutMember(ctx, m.ID, api.MemberInput{Name: m.Name, Email: m.Email, Language: m.Language, Departments: m.Departments,
			Admin: m.Admin, Away: m.Away, Active: &inactive}); err != nil {
			return memberProblem(err)
		}
		fmt.Fprintf(out, "%s disabled: every token and console session of theirs is refused from now on\n", m.ID)
		return nil
	case sub == "token" && (len(rest) == 1 || len(rest) == 3 && rest[1] == "--label"):
		label := "cli"
		if len(rest) == 3 {
			label = rest[2]
		}
		t, token, err := srv.NewMemberToken(ctx, rest[0], label)
		if errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("staff token: no active member %q", rest[0])
		} else if err != nil {
			return memberProblem(err)
		}
		fmt.Fprintf(os.Stderr, "token %s of %s (shown once; send it as Authorization: Bearer …):\n", t.ID, rest[0])
		fmt.Fprintln(out, token)
		return nil
	}
	return errors.New(staffUsage)
}

// parseMemberFlags reads the flags of staff add.
func parseMemberFlags(args []string) (api.MemberInput, error) {
	in := api.MemberInput{Departments: map[string]string{}}
	for i := 0; i < len(args); i++ {
		flag := args[i]
		value := func() (string, error) {
			if i+1 >= len(args) {
				return "", fmt.Errorf("staff add: %s needs a value\n%s", flag, staffUsage)
			}
			i++
			return args[i], nil
		}
		var err error
		switch flag {
		case "--admin":
			in.Admin = true
		case "--away":
			in.Away = true
		case "--name":
			in.Name, err = value()
		case "--email":
			in.Email, err = value()
		case "--language":
			in.Language, err = value()
		case "--dept":
			var v string
			if v, err = value(); err == nil {
				dept, role, ok := strings.Cut(v, ":")
				if !ok {
					role = storage.RoleAgent
				}
				in.Departments[dept] = role
			}
		default:
			return in, fmt.Errorf("staff add: unknown flag %q\n%s", flag, staffUsage)
		}
		if err != nil {
			return in, err
		}
	}
	return in, nil
}

// memberProblem words a member's validation error for the command line.
func memberProblem(err error) error {
	var ve *api.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	names := make([]string, 0, len(ve.Fields))
	for name := range ve.Fields {
		names = append(names, name)
	}
	sort.Strings(names)
	lines := make([]string, 0, len(names))
	for _, name := range names {
		lines = append(lines, name+": "+ve.Fields[name])
	}
	return errors.New("staff: " + strings.Join(lines, "; "))
}

func describeAccess(m storage.StaffMember) string {
	if m.Admin {
		return ", admin of every department"
	}
	if len(m.Departments) == 0 {
		return ", no department yet"
	}
	depts := make([]string, 0, len(m.Departments))
	for d, role := range m.Departments {
		depts = append(depts, d+":"+role)
	}
	sort.Strings(depts)
	return ", " + strings.Join(depts, " ")
}

func listStaff(ctx context.Context, st *storage.Store, out io.Writer) error {
	ms, err := st.StaffMembers(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tNAME\tEMAIL\tACTIVE\tACCESS")
	for _, m := range ms {
		fmt.Fprintf(w, "%s\t%s\t%s\t%v\t%s\n", m.ID, m.Name, m.Email, m.Active, strings.TrimPrefix(describeAccess(m), ", "))
	}
	return w.Flush()
}
