package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/assistd/assistd/api"
)

const loginLinkUsage = "usage: assistd login-link CUSTOMER [--ttl 15m] | assistd login-link --staff SID [--ttl 15m]"

// loginLink prints sign-in links: a customer's, signed with ASSISTD_PORTAL_SECRET as the portal
// makes them, and a member's for the console, signed with ASSISTD_STAFF_LINK_SECRET.
func loginLink(args []string) error {
	var customer, staff string
	ttl := 15 * time.Minute
	for i := 0; i < len(args); i++ {
		arg := args[i]
		value := func() (string, error) {
			if name, v, ok := strings.Cut(arg, "="); ok && strings.HasPrefix(name, "--") {
				return v, nil
			}
			if i+1 >= len(args) {
				return "", fmt.Errorf("login-link: %s needs a value (%s)", arg, loginLinkUsage)
			}
			i++
			return args[i], nil
		}
		switch {
		case arg == "--staff" || strings.HasPrefix(arg, "--staff="):
			v, err := value()
			if err != nil {
				return err
			}
			staff = strings.TrimSpace(v)
		case arg == "--ttl" || strings.HasPrefix(arg, "--ttl="):
			v, err := value()
			if err != nil {
				return err
			}
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return fmt.Errorf("login-link: --ttl %q is not a positive duration such as 15m", v)
			}
			if d > api.MaxLoginTTL {
				return fmt.Errorf("login-link: --ttl %v is longer than a sign-in link may live (%v)", d, api.MaxLoginTTL)
			}
			ttl = d
		case strings.HasPrefix(arg, "-"):
			return fmt.Errorf("login-link: unknown flag %q (%s)", arg, loginLinkUsage)
		case customer == "":
			customer = arg
		default:
			return errors.New(loginLinkUsage)
		}
	}
	if customer == "" && staff == "" {
		return errors.New(loginLinkUsage)
	}
	if staff != "" && (len(staff) > 100 || strings.ContainsAny(staff, "\r\n\t\x00")) {
		return errors.New("login-link: a member id is 1 to 100 characters on one line")
	}
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	if customer != "" && cfg.PortalSecret == "" {
		return errors.New("login-link: ASSISTD_PORTAL_SECRET is not set; customers' links are signed with it")
	}
	if staff != "" && cfg.StaffLinkSecret == "" {
		return errors.New("login-link: ASSISTD_STAFF_LINK_SECRET is not set; staff links are signed with it (and are off without it)")
	}
	if customer != "" {
		fmt.Println(api.CustomerLoginURL(cfg.PublicURL, cfg.PortalSecret, customer, ttl))
	}
	if staff != "" {
		// The link is this command's output, for the operator who asked for it: it names the
		// member and carries an HMAC made with ASSISTD_STAFF_LINK_SECRET, never the secret itself.
		// The console signs in only an active member.
		fmt.Println(api.StaffLoginURL(cfg.PublicURL, cfg.StaffLinkSecret, staff, ttl))
	}
	return nil
}
