package ingress

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
)

// The fast path's body copies: by length, to EOF, and chunked (with
// trailers), telling read errors from write errors.

// errBadChunk is malformed chunked framing.
var errBadChunk = errors.New("ingress: malformed chunked encoding")

// copyN copies n bytes from src to dst (a bufio.Writer bw, or the
// connection w), flushing bw before each read that would block.
// Errors are told apart: reading src, writing dst.
func copyN(w io.Writer, bw *bufio.Writer, src *bufio.Reader, n int64) (rerr, werr error) {
	write := func(p []byte) error {
		if bw != nil {
			_, err := bw.Write(p)
			return err
		}
		_, err := w.Write(p)
		return err
	}
	var big *[]byte
	defer func() {
		if big != nil {
			copyBuffers.Put(big)
		}
	}()
	for n > 0 {
		if k := src.Buffered(); k > 0 {
			if int64(k) > n {
				k = int(n)
			}
			p, _ := src.Peek(k)
			if err := write(p); err != nil {
				return nil, err
			}
			_, _ = src.Discard(k)
			n -= int64(k)
			continue
		}
		if bw != nil && bw.Buffered() > 0 {
			if err := bw.Flush(); err != nil {
				return nil, err
			}
		}
		if big == nil {
			big = copyBuffers.Get().(*[]byte)
		}
		p := *big
		if int64(len(p)) > n {
			p = p[:n]
		}
		k, err := src.Read(p)
		if k > 0 {
			if err := write(p[:k]); err != nil {
				return nil, err
			}
			n -= int64(k)
		}
		if err != nil && n > 0 {
			return eofUnexpected(err), nil
		}
	}
	return nil, nil
}

// copyToEOF copies src until it ends, chunk-encoding it to dst and
// flushing each piece (a response without framing is a stream).
func copyToEOF(dst *bufio.Writer, src *bufio.Reader) (n int64, rerr, werr error) {
	big := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(big)
	for {
		k, err := src.Read(*big)
		if k > 0 {
			n += int64(k)
			o := dst.AvailableBuffer()
			o = strconv.AppendInt(o, int64(k), 16)
			o = append(o, "\r\n"...)
			if _, werr = dst.Write(o); werr != nil {
				return n, nil, werr
			}
			if _, werr = dst.Write((*big)[:k]); werr != nil {
				return n, nil, werr
			}
			if _, werr = dst.WriteString("\r\n"); werr != nil {
				return n, nil, werr
			}
			if src.Buffered() == 0 {
				if werr = dst.Flush(); werr != nil {
					return n, nil, werr
				}
			}
		}
		if err == io.EOF {
			_, werr = dst.WriteString("0\r\n\r\n")
			return n, nil, werr
		}
		if err != nil {
			return n, err, nil
		}
	}
}

// maxChunkLine bounds a chunk-size line, as net/http's chunked reader.
const maxChunkLine = 4096

// maxTrailerBytes bounds the trailer section of a chunked body.
const maxTrailerBytes = 64 << 10

// copyChunked copies a chunked body from src to dst, re-writing each
// chunk-size line without extensions and passing the trailer section on;
// it returns the data bytes. With limit > 0, more data than limit is
// errBodyTooLarge. dst is flushed before each read that would block.
func copyChunked(dst *bufio.Writer, src *bufio.Reader, limit int64) (n int64, rerr, werr error) {
	flushIfIdle := func() error {
		if src.Buffered() == 0 && dst.Buffered() > 0 {
			return dst.Flush()
		}
		return nil
	}
	var excess int64
	for {
		if werr = flushIfIdle(); werr != nil {
			return n, nil, werr
		}
		line, err := readChunkLine(src)
		if err != nil {
			return n, err, nil
		}
		size, ok := parseChunkSize(line)
		if !ok {
			return n, errBadChunk, nil
		}
		// net/http's bound on framing overhead: 16 bytes a chunk plus
		// twice its data, 16 KiB of excess in all.
		excess += int64(len(line)) + 2 - 16 - 2*size
		if excess = max(excess, 0); excess > 16<<10 {
			return n, errBadChunk, nil
		}
		if limit > 0 && n+size > limit {
			return n, errBodyTooLarge, nil
		}
		o := dst.AvailableBuffer()
		o = strconv.AppendInt(o, size, 16)
		o = append(o, "\r\n"...)
		if _, werr = dst.Write(o); werr != nil {
			return n, nil, werr
		}
		if size == 0 {
			break
		}
		for size > 0 {
			if werr = flushIfIdle(); werr != nil {
				return n, nil, werr
			}
			if src.Buffered() == 0 {
				if _, err := src.Peek(1); err != nil {
					return n, eofUnexpected(err), nil
				}
			}
			k := src.Buffered()
			if int64(k) > size {
				k = int(size)
			}
			p, _ := src.Peek(k)
			if _, werr = dst.Write(p); werr != nil {
				return n, nil, werr
			}
			_, _ = src.Discard(k)
			size -= int64(k)
			n += int64(k)
		}
		crlf, err := src.Peek(2)
		if err != nil {
			return n, eofUnexpected(err), nil
		}
		if crlf[0] != '\r' || crlf[1] != '\n' {
			return n, errBadChunk, nil
		}
		_, _ = src.Discard(2)
		if _, werr = dst.WriteString("\r\n"); werr != nil {
			return n, nil, werr
		}
	}
	// Trailer section: header lines up to an empty line.
	total := 0
	for {
		if werr = flushIfIdle(); werr != nil {
			return n, nil, werr
		}
		line, err := readChunkLine(src)
		if err != nil {
			return n, err, nil
		}
		total += len(line) + 2
		if total > maxTrailerBytes {
			return n, errBadChunk, nil
		}
		if len(line) > 0 {
			i := bytes.IndexByte(line, ':')
			if i <= 0 {
				return n, errBadChunk, nil
			}
			for _, ch := range line[:i] {
				if !isTokenByte(ch) {
					return n, errBadChunk, nil
				}
			}
			for _, ch := range line[i+1:] {
				if (ch < ' ' && ch != '\t') || ch == 0x7f {
					return n, errBadChunk, nil
				}
			}
			if _, werr = dst.Write(line); werr != nil {
				return n, nil, werr
			}
		}
		if _, werr = dst.WriteString("\r\n"); werr != nil {
			return n, nil, werr
		}
		if len(line) == 0 {
			break
		}
	}
	return n, nil, nil
}

// readChunkLine reads one line of chunked framing without its line end.
// The returned slice is valid until the next read from br.
func readChunkLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return nil, errBadChunk // longer than the 4 KiB buffer
	}
	if err != nil {
		return nil, eofUnexpected(err)
	}
	// As net/http: CRLF at the end (no bare LF) and no other CR.
	if i := bytes.IndexByte(line, '\r'); len(line) < 2 || i != len(line)-2 || len(line)-2 >= maxChunkLine {
		return nil, errBadChunk
	}
	return line[:len(line)-2], nil
}

// parseChunkSize reads the hex size of a chunk-size line as net/http
// does: trailing whitespace trimmed, then an extension cut off.
func parseChunkSize(line []byte) (int64, bool) {
	line = bytes.TrimRight(line, " \t")
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	if len(line) == 0 || len(line) > 16 {
		return 0, false
	}
	var n int64
	for _, ch := range line {
		var d byte
		switch {
		case '0' <= ch && ch <= '9':
			d = ch - '0'
		case 'a' <= ch && ch <= 'f':
			d = ch - 'a' + 10
		case 'A' <= ch && ch <= 'F':
			d = ch - 'A' + 10
		default:
			return 0, false
		}
		n = n<<4 | int64(d)
	}
	return n, n >= 0
}

func eofUnexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// equalFold compares b with the ASCII string s case-insensitively.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
