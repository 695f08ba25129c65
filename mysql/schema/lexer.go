package schema

import "strings"

// The lexer splits a statement into tokens the way MySQL's does, far enough
// to rewrite MariaDB syntax the TiDB grammar lacks (see normalize.go) and to
// tell which tables a statement it cannot parse touches. It never fails: an
// unterminated string or comment runs to the end of the text.

type tokKind uint8

const (
	tkSpace  tokKind = iota // whitespace and comments
	tkWord                  // a bare identifier or keyword
	tkQuoted                // a quoted identifier: `a` (or "a" under ANSI_QUOTES)
	tkString                // a string literal
	tkNumber                // a numeric literal
	tkPunct                 // one punctuation or operator character
)

type token struct {
	kind tokKind
	text string // as written, quotes included; "" once deleted
}

// is reports whether t is the bare keyword kw (case-insensitive).
func (t token) is(kw string) bool { return t.kind == tkWord && strings.EqualFold(t.text, kw) }

// ident returns the identifier t names: a bare word, or a quoted identifier
// without its quotes.
func (t token) ident() string {
	switch t.kind {
	case tkWord:
		return t.text
	case tkQuoted:
		q := t.text[:1]
		s := t.text[1:]
		s = strings.TrimSuffix(s, q)
		return strings.ReplaceAll(s, q+q, q)
	}
	return ""
}

type lexMode struct {
	ansiQuotes  bool          // "x" is an identifier
	noBackslash bool          // backslash is not an escape in strings
	flavor      flavorComment // which executable comments run
}

// flavorComment chooses which executable comments (/*! ... */, /*M! ... */)
// the lexer expands: MySQL runs only the first kind, MariaDB both.
type flavorComment uint8

const (
	commentsMySQL flavorComment = iota
	commentsMariaDB
)

// lex splits sql into tokens. Executable comments the server would run are
// expanded in place; others become space.
func lex(sql string, m lexMode) []token {
	toks := make([]token, 0, len(sql)/3+4)
	return lexInto(toks, sql, m)
}

func lexInto(toks []token, s string, m lexMode) []token {
	i := 0
	for i < len(s) {
		c := s[i]
		start := i
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r' || s[i] == '\f' || s[i] == '\v') {
				i++
			}
			toks = append(toks, token{tkSpace, s[start:i]})
		case c == '#' || (c == '-' && i+1 < len(s) && s[i+1] == '-' && (i+2 == len(s) || s[i+2] <= ' ')):
			for i < len(s) && s[i] != '\n' {
				i++
			}
			toks = append(toks, token{tkSpace, s[start:i]})
		case c == '/' && i+1 < len(s) && s[i+1] == '*':
			end := strings.Index(s[i+2:], "*/")
			var body string
			if end < 0 {
				body, i = s[i+2:], len(s)
			} else {
				body, i = s[i+2:i+2+end], i+2+end+2
			}
			if run, inner := executableComment(body, m.flavor); run {
				toks = append(toks, token{tkSpace, " "})
				toks = lexInto(toks, inner, m)
				toks = append(toks, token{tkSpace, " "})
			} else {
				toks = append(toks, token{tkSpace, " "})
			}
		case c == '`' || (c == '"' && m.ansiQuotes):
			i = scanQuoted(s, i, c, true)
			toks = append(toks, token{tkQuoted, s[start:i]})
		case c == '\'' || c == '"':
			i = scanQuoted(s, i, c, m.noBackslash)
			toks = append(toks, token{tkString, s[start:i]})
		case c >= '0' && c <= '9':
			i = scanNumber(s, i)
			if i < len(s) && isWordByte(s[i]) {
				// 1abc is an identifier in MySQL.
				for i < len(s) && isWordByte(s[i]) {
					i++
				}
				toks = append(toks, token{tkWord, s[start:i]})
			} else {
				toks = append(toks, token{tkNumber, s[start:i]})
			}
		case isWordByte(c):
			for i < len(s) && isWordByte(s[i]) {
				i++
			}
			toks = append(toks, token{tkWord, s[start:i]})
		default:
			i++
			toks = append(toks, token{tkPunct, s[start:i]})
		}
	}
	return toks
}

func isWordByte(c byte) bool {
	return c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// scanQuoted returns the index after the quoted text that starts at i. A
// doubled quote is a quote; a backslash escapes the next byte unless
// noEscape.
func scanQuoted(s string, i int, q byte, noEscape bool) int {
	i++
	for i < len(s) {
		switch s[i] {
		case '\\':
			if !noEscape {
				i += 2
				continue
			}
		case q:
			if i+1 < len(s) && s[i+1] == q {
				i += 2
				continue
			}
			return i + 1
		}
		i++
	}
	return len(s)
}

func scanNumber(s string, i int) int {
	if s[i] == '0' && i+1 < len(s) && (s[i+1] == 'x' || s[i+1] == 'b') {
		j := i + 2
		for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] >= 'a' && s[j] <= 'f' || s[j] >= 'A' && s[j] <= 'F') {
			j++
		}
		if j > i+2 {
			return j
		}
	}
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	if i+1 < len(s) && (s[i] == 'e' || s[i] == 'E') && (s[i+1] >= '0' && s[i+1] <= '9' || (s[i+1] == '+' || s[i+1] == '-') && i+2 < len(s) && s[i+2] >= '0' && s[i+2] <= '9') {
		i += 2
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	return i
}

// executableComment reports whether the body of a /* ... */ comment is SQL
// the server ran (/*!50100 ...*/, and /*M!100301 ...*/ on MariaDB), and
// returns that SQL.
func executableComment(body string, f flavorComment) (bool, string) {
	switch {
	case strings.HasPrefix(body, "!"):
		body = body[1:]
	case strings.HasPrefix(body, "M!") && f == commentsMariaDB:
		body = body[2:]
	default:
		return false, ""
	}
	n := 0
	for n < len(body) && n < 6 && body[n] >= '0' && body[n] <= '9' {
		n++
	}
	return true, body[n:]
}

// join renders tokens back to text.
func join(toks []token) string {
	n := 0
	for _, t := range toks {
		n += len(t.text)
	}
	var b strings.Builder
	b.Grow(n)
	for _, t := range toks {
		b.WriteString(t.text)
	}
	return b.String()
}

// words is a view of a token list without its space: sig[k] is the index in
// toks of the k-th significant token.
type words struct {
	toks []token
	sig  []int
}

func newWords(toks []token) *words {
	w := &words{toks: toks, sig: make([]int, 0, len(toks)/2+1)}
	for i, t := range toks {
		if t.kind != tkSpace && t.text != "" {
			w.sig = append(w.sig, i)
		}
	}
	return w
}

func (w *words) n() int { return len(w.sig) }

// at returns the k-th significant token, or a zero token past the end.
func (w *words) at(k int) token {
	if k < 0 || k >= len(w.sig) {
		return token{}
	}
	return w.toks[w.sig[k]]
}

func (w *words) is(k int, kw string) bool { return w.at(k).is(kw) }

func (w *words) punct(k int, p string) bool {
	t := w.at(k)
	return t.kind == tkPunct && t.text == p
}

// set replaces the text of the k-th significant token.
func (w *words) set(k int, text string) { w.toks[w.sig[k]].text = text }

// del deletes significant tokens [from, to).
func (w *words) del(from, to int) {
	for k := from; k < to && k < len(w.sig); k++ {
		w.toks[w.sig[k]].text = ""
	}
}

// matching returns the index of the ')' that closes the '(' at k, or n().
func (w *words) matching(k int) int {
	depth := 0
	for j := k; j < len(w.sig); j++ {
		switch {
		case w.punct(j, "("):
			depth++
		case w.punct(j, ")"):
			depth--
			if depth == 0 {
				return j
			}
		}
	}
	return len(w.sig)
}

// split returns the [from, to) ranges of the comma-separated items in
// [from, to) at paren depth 0 of that range.
func (w *words) split(from, to int) [][2]int {
	var out [][2]int
	depth, start := 0, from
	for j := from; j < to; j++ {
		switch {
		case w.punct(j, "("):
			depth++
		case w.punct(j, ")"):
			depth--
		case w.punct(j, ",") && depth == 0:
			out = append(out, [2]int{start, j})
			start = j + 1
		}
	}
	return append(out, [2]int{start, to})
}

// text renders significant tokens [from, to) with their original spacing.
func (w *words) text(from, to int) string {
	if from >= to || from >= len(w.sig) {
		return ""
	}
	end := len(w.toks)
	if to < len(w.sig) {
		end = w.sig[to]
	}
	return strings.TrimSpace(join(w.toks[w.sig[from]:end]))
}

// qualifiedName reads "name" or "schema.name" at k and returns the parts and
// the index after them; ok is false when no identifier is there.
func (w *words) qualifiedName(k int) (schema, name string, next int, ok bool) {
	t := w.at(k)
	if t.kind != tkWord && t.kind != tkQuoted {
		return "", "", k, false
	}
	if w.punct(k+1, ".") {
		u := w.at(k + 2)
		if u.kind == tkWord || u.kind == tkQuoted {
			return t.ident(), u.ident(), k + 3, true
		}
	}
	return "", t.ident(), k + 1, true
}
