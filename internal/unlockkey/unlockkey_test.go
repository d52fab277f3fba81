package unlockkey_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/shoalproject/shoal/internal/secretkey"
	"github.com/shoalproject/shoal/internal/unlockkey"
)

func newKey(t testing.TB) *unlockkey.Key {
	k, err := unlockkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestKeyTextRoundTrips(t *testing.T) {
	k := newKey(t)
	s := k.String()
	if !strings.HasPrefix(s, "SHOALKEY-1-") || len(s) != len("SHOALKEY-1-")+43 {
		t.Fatalf("key text %q", s)
	}
	back, err := unlockkey.Parse("  " + s + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if back.ID() != k.ID() || !bytes.Equal(back.Bytes(), k.Bytes()) {
		t.Fatal("a parsed key is not the key")
	}
	if other := newKey(t); other.ID() == k.ID() {
		t.Fatal("two keys share an ID")
	}
}

func TestParseRefusesWhatIsNotAKey(t *testing.T) {
	good := newKey(t).String()
	for _, s := range []string{"", "SWMKEY-1-" + good[len("SHOALKEY-1-"):], good[:len(good)-1], good + "A",
		good[:len(good)-1] + "!", good[:len(good)-1] + "B"} {
		if _, err := unlockkey.Parse(s); !errors.Is(err, unlockkey.ErrInvalid) {
			t.Errorf("Parse(%q) = %v, want ErrInvalid", s, err)
		}
	}
}

func TestLockedFileOpensOnlyWithItsKey(t *testing.T) {
	raw := bytes.Repeat([]byte{7}, secretkey.Size)
	k := newKey(t)
	file, err := unlockkey.Lock(k, raw)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(file, raw) {
		t.Fatal("the locked file holds the key in clear")
	}
	locked, id, err := unlockkey.Locked(file)
	if err != nil || !locked || id != k.ID() {
		t.Fatalf("Locked = %v %q %v, want locked by %s", locked, id, err, k.ID())
	}
	if _, err := unlockkey.Unlock(newKey(t), file); !errors.Is(err, unlockkey.ErrInvalid) {
		t.Fatalf("another key: %v, want ErrInvalid", err)
	}
	got, err := unlockkey.Unlock(k, file)
	if err != nil || !bytes.Equal(got, raw) {
		t.Fatalf("Unlock = %x, %v", got, err)
	}
	// A flipped byte of the sealed part is damage, not a key.
	file[len(file)-1] ^= 1
	if _, err := unlockkey.Unlock(k, file); err == nil || errors.Is(err, unlockkey.ErrInvalid) {
		t.Fatalf("damaged file: %v, want a damage error", err)
	}
	if locked, _, err := unlockkey.Locked(raw); err != nil || locked {
		t.Fatalf("a plain key: locked %v, %v", locked, err)
	}
	if _, _, err := unlockkey.Locked([]byte("short")); err == nil {
		t.Fatal("a 5-byte file is a key")
	}
}

// FuzzParse: Parse never panics, and what it takes prints back as the
// same key (one text per key: no second spelling opens a lock).
func FuzzParse(f *testing.F) {
	f.Add(newKey(f).String())
	f.Add("SHOALKEY-1-")
	f.Add("SWMKEY-1-AAAA")
	f.Add("SHOALKEY-1-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := unlockkey.Parse(s)
		if err != nil {
			if !errors.Is(err, unlockkey.ErrInvalid) {
				t.Fatalf("Parse(%q): %v, not ErrInvalid", s, err)
			}
			return
		}
		if k.String() != strings.TrimSpace(s) {
			t.Fatalf("Parse(%q) prints as %q", s, k.String())
		}
	})
}

// FuzzLocked: reading a key file of any content never panics, and
// Unlock never opens what Lock did not make.
func FuzzLocked(f *testing.F) {
	k := newKey(f)
	good, _ := unlockkey.Lock(k, bytes.Repeat([]byte{1}, secretkey.Size))
	f.Add(good)
	f.Add(bytes.Repeat([]byte{1}, secretkey.Size))
	f.Add([]byte("shoal-locked-key-v1\n"))
	f.Fuzz(func(t *testing.T, file []byte) {
		_, _, _ = unlockkey.Locked(file)
		if raw, err := unlockkey.Unlock(k, file); err == nil && !bytes.Equal(file, good) {
			if len(raw) != secretkey.Size {
				t.Fatalf("opened %d bytes", len(raw))
			}
			t.Fatalf("a forged file opened")
		}
	})
}
