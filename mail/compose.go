package mail

import (
	"embed"
	"errors"
	"fmt"
	netmail "net/mail"
	"net/url"
	"strconv"
	"strings"
	texttemplate "text/template"
	"time"
	_ "time/tzdata" // dates are shown in Europe/Lisbon even where the system has no zoneinfo

	"github.com/emersion/go-message/mail"
)

//go:embed templates
var templateFS embed.FS

// Language codes understood by the composer. Anything else is treated as
// LangPT, the default.
const (
	LangPT = "pt-PT"
	LangEN = "en"
)

const (
	maxHeaderRunes = 200 // customer-typed text kept in a header
	maxReferences  = 20  // ids of theirs copied into References
	maxLineBytes   = 998 // RFC 5322 hard limit, checked on every message built
	defaultTTL     = 72 * time.Hour
	ticketTag      = "[Pedido #%s] " // kept in both languages so replies are recognisable
)

// dateLayouts write a date the way each language does, as the pages do.
var dateLayouts = map[string]string{LangPT: "02/01/2006 15:04", LangEN: "2 Jan 2006, 15:04"}

// ErrInvalidAddress is returned for a recipient or sender that is not a
// single, bare, well-formed address. Nothing is built or sent for it.
var ErrInvalidAddress = errors.New("mail: invalid address")

// ComposerConfig is what a Composer needs to know about the service.
type ComposerConfig struct {
	From      string        // the support address, e.g. "Apoio ao Cliente <suporte@example.pt>"
	PublicURL string        // base URL of the client area, e.g. "https://clientes.example.pt"
	IDs       *IDSigner     // mints the Message-IDs
	SecretTTL time.Duration // how long a provided password is kept; 0 means 72h
}

// Composer builds every email assistd sends. It is safe for concurrent use.
type Composer struct {
	from      *mail.Address
	publicURL string
	ids       *IDSigner
	lisbon    *time.Location
	wording   map[string]*texttemplate.Template    // by language
	fixed     map[string]map[string]string         // by language and name: phrases that use no ticket data, rendered once
	compiled  map[string]map[string]compiledPhrase // by language and name: the other phrases, where they compile (wording.go)
	ttl       map[string]string                    // by language: the password's keeping time, in words
	now       func() time.Time
	answers   answerCache
}

// Outgoing is a message ready for the Sender.
type Outgoing struct {
	EnvelopeFrom string // SMTP MAIL FROM; "" means the null sender <>
	To           string // single bare address
	MessageID    string // with angle brackets
	Raw          []byte // complete RFC 5322 message, CRLF line endings
}

// NewComposer checks cfg and loads the embedded templates.
func NewComposer(cfg ComposerConfig) (*Composer, error) {
	from, err := netmail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("mail: from address %q: %w", cfg.From, err)
	}
	if from.Address, err = CanonicalAddress(from.Address); err != nil {
		return nil, fmt.Errorf("mail: from address %q: %w", cfg.From, err)
	}
	from.Name = HeaderText(from.Name)
	u, err := url.Parse(cfg.PublicURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("mail: public URL %q must be an absolute http(s) URL without query", cfg.PublicURL)
	}
	if cfg.IDs == nil {
		return nil, errors.New("mail: composer needs an IDSigner")
	}
	ttl := cfg.SecretTTL
	if ttl <= 0 {
		ttl = defaultTTL
	}
	lisbon, err := time.LoadLocation("Europe/Lisbon")
	if err != nil {
		return nil, fmt.Errorf("mail: load time zone: %w", err)
	}
	c := &Composer{
		from:      from,
		publicURL: strings.TrimRight(cfg.PublicURL, "/"),
		ids:       cfg.IDs,
		lisbon:    lisbon,
		wording:   make(map[string]*texttemplate.Template),
		fixed:     make(map[string]map[string]string),
		compiled:  make(map[string]map[string]compiledPhrase),
		ttl:       make(map[string]string),
		now:       time.Now,
	}
	for _, lang := range []string{LangPT, LangEN} {
		t, err := texttemplate.New(lang).Option("missingkey=error").ParseFS(templateFS, "templates/"+lang+".tmpl")
		if err != nil {
			return nil, fmt.Errorf("mail: parse %s wording: %w", lang, err)
		}
		c.wording[lang] = t
		c.ttl[lang] = FormatTTL(ttl, lang)
		// Phrases that use nothing of a ticket (only literal text and the keeping time) are
		// rendered once; the others that compile are rendered for each email from their compiled
		// form (wording.go); the rest stay templates.
		c.fixed[lang], c.compiled[lang] = make(map[string]string), make(map[string]compiledPhrase)
		for _, def := range t.Templates() {
			if def.Tree == nil || def.Tree.Root == nil {
				continue
			}
			p, ok := compilePhrase(def.Tree.Root)
			switch {
			case ok && p.fixed():
				var b strings.Builder
				p.render(&b, &wordingData{TTL: c.ttl[lang]})
				c.fixed[lang][def.Name()] = strings.TrimSpace(b.String())
			case ok:
				c.compiled[lang][def.Name()] = p
			}
		}
	}
	return c, nil
}

// StableID is the Message-ID of the one mail of a kind a ticket ever gets (see IDSigner.Stable);
// pass it as TicketMail.MessageID.
func (c *Composer) StableID(ticketNumber, kind string) string {
	return c.ids.Stable(ticketNumber, kind)
}

func language(s string) string {
	if strings.EqualFold(s, LangEN) || strings.HasPrefix(strings.ToLower(s), "en-") {
		return LangEN
	}
	return LangPT
}

// FormatTTL shows a duration in whole hours when it is one, else in whole
// minutes, else in seconds: "72 horas", "6 seconds".
func FormatTTL(d time.Duration, lang string) string {
	units := []struct {
		size time.Duration
		pt   [2]string // singular, plural
		en   [2]string
	}{
		{time.Hour, [2]string{"hora", "horas"}, [2]string{"hour", "hours"}},
		{time.Minute, [2]string{"minuto", "minutos"}, [2]string{"minute", "minutes"}},
		{time.Second, [2]string{"segundo", "segundos"}, [2]string{"second", "seconds"}},
	}
	for i, u := range units {
		if d%u.size != 0 && i < len(units)-1 {
			continue
		}
		n := int64((d + u.size/2) / u.size)
		names := u.pt
		if lang == LangEN {
			names = u.en
		}
		if n == 1 {
			return "1 " + names[0]
		}
		return strconv.FormatInt(n, 10) + " " + names[1]
	}
	return ""
}
