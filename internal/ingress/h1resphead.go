package ingress

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
)

// A backend's response head on the fast path: read, parsed and
// classified (h1forward.go writes it to the client).

// respHead is a backend's parsed response head; its spans index buf.
type respHead struct {
	buf   []byte
	code  int
	spans []respField
	// framing
	contentLength int64 // -1: none
	chunked       bool
	close         bool // the backend closes after this response
	connTokens    bool
}

type respField struct {
	ns, ne, vs, ve int
	kind           uint8
	drop           bool
}

// Response header kinds beyond the request ones.
const (
	kindTrailer uint8 = 100 + iota
	kindUpgrade
)

// maxResponseHeaderBytes is net/http's Transport default.
const maxResponseHeaderBytes = 10 << 20

// errBadResponse is a backend response the proxy cannot forward.
type errBadResponse string

func (e errBadResponse) Error() string { return "ingress: bad backend response: " + string(e) }

// readResponseHead reads the backend's response head into c.resp,
// passing informational (1xx) responses on to the client. gotResp tells
// whether any byte arrived.
func (c *fconn) readResponseHead(bc *bconn) (gotResp bool, err error) {
	rh := &c.resp
	for informational := 0; ; informational++ {
		got, err := rh.read(bc.br)
		gotResp = gotResp || got
		if err != nil {
			return gotResp, err
		}
		if rh.code >= 200 {
			return true, nil
		}
		if rh.code == http.StatusSwitchingProtocols {
			return true, errBadResponse("101 Switching Protocols without an upgrade request")
		}
		if informational >= 5 {
			return true, errBadResponse("too many 1xx responses")
		}
		// 1xx: forwarded as they come (103 Early Hints, 100 Continue).
		c.writeRespHead(nil, false, false)
		if err := c.bw.Flush(); err != nil {
			return true, err
		}
	}
}

// read reads and parses one response head.
func (rh *respHead) read(br *bufio.Reader) (got bool, err error) {
	if cap(rh.buf) > 64<<10 {
		rh.buf = nil // do not keep a huge head's buffer
	}
	buf := rh.buf[:0]
	rh.spans = rh.spans[:0]
	rh.contentLength, rh.chunked, rh.close, rh.connTokens = -1, false, false, false
	lineStart := 0
	http10 := false
	for {
		line, err := br.ReadSlice('\n')
		buf = append(buf, line...)
		if len(buf) > 0 {
			got = true
		}
		if len(buf) > maxResponseHeaderBytes {
			rh.buf = buf
			return got, errBadResponse("header too large")
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			rh.buf = buf
			if err == io.EOF && got {
				err = io.ErrUnexpectedEOF
			}
			return got, err
		}
		l := buf[lineStart:]
		end := len(l) - 1
		if end > 0 && l[end-1] == '\r' {
			end--
		}
		l = l[:end]
		if lineStart == 0 {
			// Status line: HTTP/1.x SP 3DIGIT [SP reason]
			if len(l) < 12 || !bytes.HasPrefix(l, []byte("HTTP/1.")) || (l[7] != '0' && l[7] != '1') || l[8] != ' ' ||
				!isDigit(l[9]) || !isDigit(l[10]) || !isDigit(l[11]) || (len(l) > 12 && l[12] != ' ') {
				rh.buf = buf
				return got, errBadResponse("malformed status line")
			}
			// The reason phrase is passed on: HTAB, SP, VCHAR and
			// obs-text only (a bare CR could end the line for a lenient
			// client).
			for _, ch := range l[12:] {
				if (ch < ' ' && ch != '\t') || ch == 0x7f {
					rh.buf = buf
					return got, errBadResponse("malformed status line")
				}
			}
			http10 = l[7] == '0'
			rh.code = int(l[9]-'0')*100 + int(l[10]-'0')*10 + int(l[11]-'0')
			if rh.code < 100 {
				rh.buf = buf
				return got, errBadResponse("malformed status code")
			}
			lineStart = len(buf)
			continue
		}
		if len(l) == 0 {
			break
		}
		n := 0
		for n < len(l) && isTokenByte(l[n]) {
			n++
		}
		if n == 0 || n >= len(l) || l[n] != ':' {
			rh.buf = buf
			return got, errBadResponse("malformed header line")
		}
		vs, ve := n+1, len(l)
		for vs < ve && (l[vs] == ' ' || l[vs] == '\t') {
			vs++
		}
		for ve > vs && (l[ve-1] == ' ' || l[ve-1] == '\t') {
			ve--
		}
		for _, ch := range l[vs:ve] {
			if (ch < ' ' && ch != '\t') || ch == 0x7f {
				rh.buf = buf
				return got, errBadResponse("malformed header value")
			}
		}
		rh.spans = append(rh.spans, respField{ns: lineStart, ne: lineStart + n, vs: lineStart + vs, ve: lineStart + ve})
		lineStart = len(buf)
	}
	rh.buf = buf
	keepAlive := !http10
	for i := range rh.spans {
		f := &rh.spans[i]
		name, value := buf[f.ns:f.ne], buf[f.vs:f.ve]
		f.kind = responseKind(name)
		switch f.kind {
		case kindContentLength:
			cl, ok := parseContentLength(string(value))
			if !ok || (rh.contentLength >= 0 && rh.contentLength != cl) {
				return true, errBadResponse("bad Content-Length")
			}
			f.drop = rh.contentLength >= 0 // a repeat of the same length
			rh.contentLength = cl
		case kindTransferEncoding:
			if rh.chunked || !equalFold(value, "chunked") {
				return true, errBadResponse("unsupported Transfer-Encoding")
			}
			rh.chunked = true
		case kindConnection:
			for _, tok := range bytes.Split(value, []byte(",")) {
				tok = bytes.Trim(tok, " \t")
				switch {
				case len(tok) == 0:
				case equalFold(tok, "close"):
					rh.close = true
				case equalFold(tok, "keep-alive"):
					keepAlive = true
				default:
					rh.connTokens = true
				}
			}
		}
	}
	if !keepAlive {
		rh.close = true
	}
	if rh.connTokens {
		for _, f := range rh.spans {
			if f.kind != kindConnection {
				continue
			}
			for _, tok := range bytes.Split(buf[f.vs:f.ve], []byte(",")) {
				tok = bytes.Trim(tok, " \t")
				for j := range rh.spans {
					if len(tok) > 0 && bytes.EqualFold(buf[rh.spans[j].ns:rh.spans[j].ne], tok) {
						rh.spans[j].drop = true
					}
				}
			}
		}
	}
	return true, nil
}

func (rh *respHead) statusLine() []byte {
	l := rh.buf[9:]
	if i := bytes.IndexByte(l, '\n'); i >= 0 {
		l = l[:i]
	}
	return bytes.TrimRight(l, "\r")
}

// responseKind classifies a response header name.
func responseKind(name []byte) uint8 {
	switch len(name) {
	case 2:
		if equalFold(name, "Te") {
			return kindHop
		}
	case 7:
		if equalFold(name, "Trailer") {
			return kindTrailer
		}
		if equalFold(name, "Upgrade") {
			return kindUpgrade
		}
	case 10:
		if equalFold(name, "Connection") {
			return kindConnection
		}
		if equalFold(name, "Keep-Alive") {
			return kindHop
		}
	case 14:
		if equalFold(name, "Content-Length") {
			return kindContentLength
		}
	case 16:
		if equalFold(name, "Proxy-Connection") {
			return kindHop
		}
	case 17:
		if equalFold(name, "Transfer-Encoding") {
			return kindTransferEncoding
		}
	case 18:
		if equalFold(name, "Proxy-Authenticate") {
			return kindHop
		}
	case 19:
		if equalFold(name, "Proxy-Authorization") {
			return kindHop
		}
	}
	return kindOther
}
