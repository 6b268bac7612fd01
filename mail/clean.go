package mail

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// validNumber accepts ticket numbers: 1 to 32 ASCII digits. They end up in
// URLs and Message-IDs, so nothing else is allowed.
func validNumber(s string) bool {
	return s != "" && len(s) <= 32 && keepOnly(s, isDigit) == s
}

func validStatus(s string) bool {
	switch s {
	case "open", "in_progress", "answered", "customer_reply", "on_hold", "closed":
		return true
	}
	return false
}

// validMsgID accepts an id that looks like <left@right>: printable ASCII, no
// whitespace, at most 250 bytes.
func validMsgID(s string) bool {
	if len(s) < 5 || len(s) > maxMsgIDLen || s[0] != '<' || s[len(s)-1] != '>' {
		return false
	}
	inner := s[1 : len(s)-1]
	for i := 0; i < len(inner); i++ {
		if inner[i] < 0x21 || inner[i] > 0x7e || inner[i] == '<' || inner[i] == '>' {
			return false
		}
	}
	left, right, ok := strings.Cut(inner, "@")
	return ok && left != "" && right != "" && !strings.Contains(right, "@")
}

// references keeps the last maxReferences valid ids of theirs and adds their
// Message-ID, as RFC 5322 section 3.6.4 asks of a reply.
func references(theirs []string, inReplyTo string) []string {
	var ids []string
	for _, id := range theirs {
		if validMsgID(id) && id != inReplyTo {
			ids = append(ids, id)
		}
	}
	if len(ids) > maxReferences {
		ids = ids[len(ids)-maxReferences:]
	}
	if inReplyTo != "" {
		ids = append(ids, inReplyTo)
	}
	return ids
}

// HeaderText makes customer-typed text safe for a header (or a one-line
// field): valid UTF-8, no control, bidi or zero-width characters, runs of
// whitespace collapsed, at most maxHeaderRunes runes.
func HeaderText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsSpace(r):
			return ' '
		case unicode.IsControl(r), unicode.Is(unicode.Cf, r):
			return -1
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	// A literal "=?" would let a decoder read the text as an encoded word.
	s = strings.ReplaceAll(s, "=?", "= ?")
	return truncate(s, maxHeaderRunes)
}

// bodyText cleans customer text for a body: valid UTF-8, LF line ends, no
// control characters but tab and newline, no bidi overrides.
func bodyText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\t':
			return r
		case unicode.IsControl(r), isBidiControl(r):
			return -1
		}
		return r
	}, s)
}

func isBidiControl(r rune) bool {
	return r >= 0x202A && r <= 0x202E || r >= 0x2066 && r <= 0x2069 || r == 0x200E || r == 0x200F || r == 0x061C
}

func truncate(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return strings.TrimSpace(string(r[:max-1])) + "…"
}
