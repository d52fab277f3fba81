package httpjson_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/shoalproject/shoal/internal/httpjson"
)

type body struct {
	Name string `json:"Name"`
}

func decode(t *testing.T, data io.Reader, length int64) error {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/", data)
	r.ContentLength = length
	var v body
	return httpjson.Decode(httptest.NewRecorder(), r, &v, 1024)
}

// A body over the limit is "too large" whatever it holds, announced or
// not: padding, bytes that are not JSON, or a long value.
func TestDecodeOverTheLimitIsTooLarge(t *testing.T) {
	shapes := map[string][]byte{
		"long value": []byte(`{"Name":"` + strings.Repeat("x", 2000) + `"}`),
		"not JSON":   bytes.Repeat([]byte{0xff}, 2000),
		"padded":     append([]byte(`{"Name":"a"}`), bytes.Repeat([]byte(" "), 2000)...),
	}
	for name, data := range shapes {
		for _, length := range []int64{int64(len(data)), -1} {
			if err := decode(t, bytes.NewReader(data), length); !errors.Is(err, httpjson.ErrTooLarge) {
				t.Errorf("%s (Content-Length %d): %v, want ErrTooLarge", name, length, err)
			}
		}
	}
}

func TestDecodeMalformed(t *testing.T) {
	for name, data := range map[string]string{
		"not JSON":      "nope",
		"unknown field": `{"Other":1}`,
		"two values":    `{"Name":"a"} {"Name":"b"}`,
		"empty":         "",
	} {
		if err := decode(t, strings.NewReader(data), -1); !errors.Is(err, httpjson.ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	if err := decode(t, strings.NewReader(`{"Name":"a"}`), -1); err != nil {
		t.Errorf("a good body: %v", err)
	}
}
