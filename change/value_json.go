package change

import (
	"encoding/base64"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
	"golang.org/x/text/encoding/unicode"
)

// AppendJSON appends v as a JSON value. Numbers stay numbers except DECIMAL,
// which is a string so that no digit is lost. Text is converted from the
// column's character set to UTF-8. Binary values (BINARY, BLOB, GEOMETRY,
// VECTOR, and strings in the binary charset) are base64 strings. JSON values
// are embedded as JSON. NULL and absent values are null.
func (v Value) AppendJSON(dst []byte, charset string) []byte {
	switch v.Kind {
	case KindAbsent, KindNull:
		return append(dst, "null"...)
	case KindInt, KindUint, KindBit, KindFloat, KindDouble:
		return v.AppendText(dst)
	case KindYear:
		return strconvAppendInt(dst, v.I)
	case KindJSON:
		if len(v.B) == 0 {
			return append(dst, "null"...)
		}
		return append(dst, v.B...)
	case KindBytes, KindGeometry, KindVector:
		return appendBase64(dst, v.B)
	case KindString, KindEnum, KindSet:
		return AppendJSONString(dst, ToUTF8(v.B, charset))
	}
	dst = append(dst, '"')
	dst = v.AppendText(dst)
	return append(dst, '"')
}

func strconvAppendInt(dst []byte, i int64) []byte {
	return Int(i).AppendText(dst)
}

func appendBase64(dst []byte, b []byte) []byte {
	dst = append(dst, '"')
	n := base64.StdEncoding.EncodedLen(len(b))
	dst = append(dst, make([]byte, n)...)
	base64.StdEncoding.Encode(dst[len(dst)-n:], b)
	return append(dst, '"')
}

// ToUTF8 converts text in a MySQL character set to UTF-8. UTF-8 and ASCII
// text is returned as is. Bytes that do not decode become U+FFFD.
func ToUTF8(b []byte, charset string) []byte {
	enc := mysqlEncoding(charset)
	if enc == nil {
		return b
	}
	out, err := enc.NewDecoder().Bytes(b)
	if err != nil {
		return []byte(strings.ToValidUTF8(string(b), "\uFFFD"))
	}
	return out
}

// mysqlEncoding maps a MySQL charset name to its decoder, nil for charsets
// whose bytes are already UTF-8 (or ASCII, a subset).
func mysqlEncoding(charset string) encoding.Encoding {
	switch strings.ToLower(charset) {
	case "", "utf8", "utf8mb3", "utf8mb4", "ascii", "binary":
		return nil
	case "latin1":
		// MySQL's latin1 is Windows-1252.
		return charmap.Windows1252
	case "latin2":
		return charmap.ISO8859_2
	case "cp1250":
		return charmap.Windows1250
	case "cp1251":
		return charmap.Windows1251
	case "cp1256":
		return charmap.Windows1256
	case "cp1257":
		return charmap.Windows1257
	case "greek":
		return charmap.ISO8859_7
	case "hebrew":
		return charmap.ISO8859_8
	case "latin5":
		return charmap.ISO8859_9
	case "latin7":
		return charmap.ISO8859_13
	case "koi8r":
		return charmap.KOI8R
	case "koi8u":
		return charmap.KOI8U
	case "cp866":
		return charmap.CodePage866
	case "cp850":
		return charmap.CodePage850
	case "gbk", "gb2312":
		return simplifiedchinese.GBK
	case "gb18030":
		return simplifiedchinese.GB18030
	case "big5":
		return traditionalchinese.Big5
	case "sjis", "cp932":
		return japanese.ShiftJIS
	case "ujis", "eucjpms":
		return japanese.EUCJP
	case "euckr":
		return korean.EUCKR
	case "ucs2", "utf16":
		return unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM)
	case "utf16le":
		return unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM)
	}
	return nil
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a quoted JSON string. Invalid UTF-8 becomes
// U+FFFD.
func AppendJSONString(dst []byte, s []byte) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\ufffd"...)
			i++
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON but break JavaScript; escape them.
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
