package mail

import (
	"strings"
	templateparse "text/template/parse"
)

// compiledPhrase is a wording template reduced to what the phrases use: literal text, fields of
// wordingData, and a condition on a field being non-empty. Rendering one is string
// concatenation; executing the template walks it by reflection on a deep stack, which every
// task, run on a goroutine of its own, first has to grow (the two emails of a new ticket spent a
// tenth of their composing time there). A template using anything else stays a template.
type compiledPhrase []phrasePart

type phrasePart struct {
	text  string                    // literal text, when field is empty
	field string                    // the wordingData field inserted, or tested when cond is set
	value func(*wordingData) string // reads field
	cond  bool
	then  compiledPhrase
	other compiledPhrase
}

// compilePhrase reduces a template's tree, or reports that it uses more than compiledPhrase has.
func compilePhrase(n templateparse.Node) (compiledPhrase, bool) {
	switch n := n.(type) {
	case *templateparse.ListNode:
		var out compiledPhrase
		if n == nil {
			return out, true
		}
		for _, c := range n.Nodes {
			p, ok := compilePhrase(c)
			if !ok {
				return nil, false
			}
			out = append(out, p...)
		}
		return out, true
	case *templateparse.TextNode:
		return compiledPhrase{{text: string(n.Text)}}, true
	case *templateparse.CommentNode:
		return nil, true
	case *templateparse.ActionNode:
		name, value, ok := phraseField(n.Pipe)
		if !ok {
			return nil, false
		}
		return compiledPhrase{{field: name, value: value}}, true
	case *templateparse.IfNode:
		name, value, ok := phraseField(n.Pipe)
		if !ok {
			return nil, false
		}
		then, ok := compilePhrase(n.List)
		if !ok {
			return nil, false
		}
		other, ok := compilePhrase(n.ElseList)
		if !ok {
			return nil, false
		}
		return compiledPhrase{{field: name, value: value, cond: true, then: then, other: other}}, true
	}
	return nil, false
}

// phraseField returns the field a pipeline names, and how to read it, when the pipeline is just
// {{.Field}} of wordingData.
func phraseField(p *templateparse.PipeNode) (string, func(*wordingData) string, bool) {
	if p == nil || len(p.Decl) != 0 || len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 1 {
		return "", nil, false
	}
	f, ok := p.Cmds[0].Args[0].(*templateparse.FieldNode)
	if !ok || len(f.Ident) != 1 {
		return "", nil, false
	}
	value, known := wordingFields[f.Ident[0]]
	return f.Ident[0], value, known
}

// wordingFields reads each field of wordingData by its name in the templates.
var wordingFields = map[string]func(*wordingData) string{
	"Number":         func(d *wordingData) string { return d.Number },
	"SubjectName":    func(d *wordingData) string { return d.SubjectName },
	"DepartmentName": func(d *wordingData) string { return d.DepartmentName },
	"CustomerName":   func(d *wordingData) string { return d.CustomerName },
	"StatusLabel":    func(d *wordingData) string { return d.StatusLabel },
	"TTL":            func(d *wordingData) string { return d.TTL },
}

// fixed reports whether the phrase uses nothing of a ticket: only literal text and the keeping
// time, the same in every email.
func (p compiledPhrase) fixed() bool {
	for _, part := range p {
		if part.field != "" && part.field != "TTL" {
			return false
		}
		if part.cond && !(part.then.fixed() && part.other.fixed()) {
			return false
		}
	}
	return true
}

func (p compiledPhrase) render(b *strings.Builder, d *wordingData) {
	for _, part := range p {
		switch {
		case part.cond:
			if part.value(d) != "" {
				part.then.render(b, d)
			} else {
				part.other.render(b, d)
			}
		case part.field != "":
			b.WriteString(part.value(d))
		default:
			b.WriteString(part.text)
		}
	}
}
