package mail

import (
	"reflect"
	"strings"
	"testing"
	texttemplate "text/template"
)

// Every phrase is either rendered once, compiled, or left to its template; a phrase rendered once
// or compiled must say exactly what its template says, whatever the ticket's values.
func TestCompiledPhrasesSayWhatTheirTemplatesSay(t *testing.T) {
	c := testComposer(t)
	values := []wordingData{
		{},
		{Number: "48213957", SubjectName: "Configuração Conta de Email", DepartmentName: "Email",
			CustomerName: "Ana Silva", StatusLabel: "Em Tratamento"},
		{Number: "1", SubjectName: "{{.Number}} <b>&amp;</b>", DepartmentName: "  spaced  ",
			CustomerName: "José \"Zé\" O'Neil", StatusLabel: "x"},
		{CustomerName: "only a name"},
	}
	for _, lang := range []string{LangPT, LangEN} {
		for _, def := range c.wording[lang].Templates() {
			name := def.Name()
			_, fixed := c.fixed[lang][name]
			_, compiled := c.compiled[lang][name]
			if fixed && compiled {
				t.Errorf("%s %q is both rendered once and compiled", lang, name)
			}
			if fixed {
				var want strings.Builder
				if err := c.wording[lang].ExecuteTemplate(&want, name, &wordingData{TTL: c.ttl[lang]}); err != nil {
					t.Fatalf("%s %q: %v", lang, name, err)
				}
				if got := c.fixed[lang][name]; got != strings.TrimSpace(want.String()) {
					t.Errorf("%s %q rendered once:\n got %q\nwant %q", lang, name, got, strings.TrimSpace(want.String()))
				}
			}
			if !compiled {
				continue
			}
			for _, v := range values {
				v.TTL = c.ttl[lang]
				var want strings.Builder
				if err := c.wording[lang].ExecuteTemplate(&want, name, &v); err != nil {
					t.Fatalf("%s %q: %v", lang, name, err)
				}
				p := &phrases{lang: lang, compiled: c.compiled[lang], data: &v}
				if got := p.say(name); got != strings.TrimSpace(want.String()) {
					t.Errorf("%s %q with %+v:\n got %q\nwant %q", lang, name, v, got, strings.TrimSpace(want.String()))
				}
			}
		}
		// The phrases of every new ticket's two emails take the compiled path (staff read Portuguese).
		names := []string{"greeting", "confirmation.subject", "confirmation.intro", "link.ticket"}
		if lang == LangPT {
			names = append(names, "department.subject", "department.intro", "department.link")
		}
		for _, name := range names {
			if _, ok := c.compiled[lang][name]; !ok {
				t.Errorf("%s %q is not compiled", lang, name)
			}
		}
	}
}

func TestPhrasesUsingMoreThanFieldsAndConditionsStayTemplates(t *testing.T) {
	for _, src := range []string{
		`{{.Number | printf "%q"}}`,
		`{{range .Number}}x{{end}}`,
		`{{if eq .Number "1"}}one{{end}}`,
		`{{$n := .Number}}{{$n}}`,
		`{{.Unknown}}`,
		`{{template "other"}}`,
		`{{with .Number}}{{.}}{{end}}`,
	} {
		tmpl, err := testTemplate(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if _, ok := compilePhrase(tmpl.Tree.Root); ok {
			t.Errorf("%s compiled", src)
		}
	}
	tmpl, err := testTemplate(`a {{.Number}}{{if .CustomerName}} b {{.CustomerName}}{{else}} c{{end}}{{/* note */}}`)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := compilePhrase(tmpl.Tree.Root)
	if !ok {
		t.Fatal("a phrase of fields and a condition did not compile")
	}
	var b strings.Builder
	p.render(&b, &wordingData{Number: "7"})
	if b.String() != "a 7 c" {
		t.Errorf("rendered %q", b.String())
	}
}

func testTemplate(src string) (*texttemplate.Template, error) {
	return texttemplate.New("t").Parse(src + `{{define "other"}}o{{end}}`)
}

// Each field of wordingData is read by its own name, so that a phrase using it compiles and reads
// the right value.
func TestWordingFieldsReadEveryFieldByItsName(t *testing.T) {
	var d wordingData
	v := reflect.ValueOf(&d).Elem()
	if len(wordingFields) != v.NumField() {
		t.Errorf("%d readers for %d fields", len(wordingFields), v.NumField())
	}
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		v.Field(i).SetString("value of " + name)
		read, ok := wordingFields[name]
		if !ok {
			t.Errorf("no reader for %s", name)
			continue
		}
		if got := read(&d); got != "value of "+name {
			t.Errorf("the reader of %s reads %q", name, got)
		}
	}
}
