package parser

const upperHex = "0123456789ABCDEF"

// NormalizePath appends the normalised form of path (a request path without
// its query) to dst and returns the extended slice; it allocates only when
// dst lacks capacity (len(path)*3 always suffices). The rules (SPEC §3):
//
//   - path must start with '/';
//   - percent-encoded unreserved bytes (ALPHA DIGIT - . _ ~) are decoded;
//     other percent-encodings are kept, with uppercase hex;
//   - dot segments are removed (RFC 3986 §5.2.4), including ones written
//     with %2e / %2E; ".." never climbs above the root;
//   - empty segments ("//") are kept;
//   - raw bytes that may not appear in a path (e.g. '"', '<', '|', '{',
//     non-ASCII) are percent-encoded, so the result is a valid URI path;
//   - rejected with a 400 *Error: "%2F", "%5C" and "%00" in any case (an
//     encoded separator or NUL would mean different paths to different
//     servers), a raw '\' (some servers treat it as '/', which would let
//     "/public\..\admin" slip past prefix routes), a raw NUL or other
//     control byte, and malformed percent-encoding ("%zz", "%4").
//
// The result is idempotent: normalising it again yields it unchanged. On
// error, dst is returned with its original length.
func NormalizePath(dst, path []byte) ([]byte, error) {
	out, k := normalizePath(dst, path)
	if k != errNone {
		return dst, reqErrs[k]
	}
	return out, nil
}

func normalizePath(dst, path []byte) ([]byte, errKind) {
	if len(path) == 0 || path[0] != '/' {
		return dst, errPathNoSlash
	}
	base := len(dst)
	p := 0
	for p < len(path) {
		// path[p] == '/': copy one segment, decoding as we go.
		dst = append(dst, '/')
		segStart := len(dst)
		p++
		for p < len(path) && path[p] != '/' {
			c := path[p]
			switch {
			case c == '%':
				if p+2 >= len(path) {
					return dst[:base], errPathBadPercent
				}
				h, l := unhex(path[p+1]), unhex(path[p+2])
				if h < 0 || l < 0 {
					return dst[:base], errPathBadPercent
				}
				v := byte(h<<4 | l)
				switch {
				case charClass[v]&cUnres != 0:
					dst = append(dst, v)
				case v == '/' || v == '\\':
					return dst[:base], errPathEncodedSlash
				case v == 0:
					return dst[:base], errPathNUL
				default:
					dst = append(dst, '%', upperHex[v>>4], upperHex[v&15])
				}
				p += 3
				continue
			case charClass[c]&cPchar != 0:
				dst = append(dst, c)
			case c == 0:
				return dst[:base], errPathNUL
			case c == '\\':
				return dst[:base], errPathBackslash
			case c < 0x20 || c == 0x7f:
				return dst[:base], errPathBadByte
			default:
				dst = append(dst, '%', upperHex[c>>4], upperHex[c&15])
			}
			p++
		}
		last := p >= len(path)
		seg := dst[segStart:]
		switch {
		case len(seg) == 1 && seg[0] == '.':
			if last {
				dst = dst[:segStart] // "/a/." -> "/a/"
			} else {
				dst = dst[:segStart-1] // "/a/./b" -> "/a" + "/b"
			}
		case len(seg) == 2 && seg[0] == '.' && seg[1] == '.':
			// Drop this segment and the one before it, with its '/'.
			q := segStart - 1
			for q > base && dst[q-1] != '/' {
				q--
			}
			if q > base {
				q-- // the previous segment's '/'
			}
			dst = dst[:q]
			if last {
				dst = append(dst, '/')
			}
		}
	}
	if len(dst) == base {
		dst = append(dst, '/')
	}
	return dst, errNone
}
