// Package winacl keeps the agent's folders on Windows private, as 0700 and
// the owner checks do on Linux: a folder the agent makes gets a protected
// DACL (nothing inherited from its parent) granting full control to
// SYSTEM, Administrators and the agent's own user only, which the files
// made in it inherit; an existing folder whose owner or DACL lets anyone
// else in is refused with the reason.
//
// The decisions are made on the security descriptor's SDDL text (what
// Windows' ConvertSecurityDescriptorToStringSecurityDescriptor gives), in
// pure Go, so that they are unit-tested on Linux with the descriptors
// Windows really has (C:\, C:\ProgramData). The system calls (acl_windows.go:
// CreateDirectory with a descriptor, GetSecurityInfo, GetTokenUser) are
// cross-compiled and vetted; they have never run on a Windows host.
package winacl

import (
	"fmt"
	"strconv"
	"strings"
)

// Well-known SIDs.
const (
	System         = "S-1-5-18"
	Administrators = "S-1-5-32-544"
	creatorOwner   = "S-1-3-0"
	ownerRights    = "S-1-3-4"
	trustedInstall = "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464"
)

// aliases are SDDL's short names of well-known SIDs.
var aliases = map[string]string{
	"SY": System, "BA": Administrators, "BU": "S-1-5-32-545", "BG": "S-1-5-32-546",
	"PU": "S-1-5-32-547", "BO": "S-1-5-32-551", "RD": "S-1-5-32-555", "WD": "S-1-1-0",
	"AU": "S-1-5-11", "AN": "S-1-5-7", "IU": "S-1-5-4", "SU": "S-1-5-6", "NU": "S-1-5-2",
	"LS": "S-1-5-19", "NS": "S-1-5-20", "PS": "S-1-5-10", "CO": creatorOwner,
	"CG": "S-1-3-1", "OW": ownerRights, "AC": "S-1-15-2-1",
}

// names say who a SID is in an error.
var names = map[string]string{
	"S-1-5-32-545": "Users", "S-1-1-0": "Everyone", "S-1-5-11": "Authenticated Users",
	"S-1-5-32-546": "Guests", "S-1-5-7": "Anonymous", "S-1-5-4": "Interactive",
	"S-1-5-32-547": "Power Users", "S-1-15-2-1": "All App Packages", "S-1-5-19": "Local Service",
	"S-1-5-20": "Network Service",
}

// SID maps an SDDL alias (SY) to its SID; a SID is returned as is.
func SID(s string) string {
	if sid, ok := aliases[strings.ToUpper(s)]; ok {
		return sid
	}
	return strings.ToUpper(s)
}

// ACE is one access control entry of a DACL.
type ACE struct {
	// Type is SDDL's: "A" allows, "D" denies (and "XA", "OA"... likewise).
	Type string
	// Flags are SDDL's inheritance flags ("OICI", "OICIIO", "ID").
	Flags string
	Mask  uint32
	// SID is the trustee, aliases resolved.
	SID string
}

// Allows reports whether the entry grants rights.
func (a ACE) Allows() bool { return strings.HasSuffix(a.Type, "A") && a.Type != "AU" }

// InheritOnly reports whether the entry applies to children only.
func (a ACE) InheritOnly() bool { return hasFlag(a.Flags, "IO") }

func hasFlag(flags, f string) bool {
	for i := 0; i+1 < len(flags); i += 2 {
		if flags[i:i+2] == f {
			return true
		}
	}
	return false
}

// Descriptor is the part of a security descriptor the checks read.
type Descriptor struct {
	Owner string // SID, "" when absent
	// NullDACL: no DACL at all, or D:NO_ACCESS_CONTROL; everyone may do
	// anything.
	NullDACL  bool
	Protected bool
	DACL      []ACE
}

// Parse reads the owner and DACL of an SDDL security descriptor.
func Parse(sddl string) (Descriptor, error) {
	d := Descriptor{NullDACL: true}
	sections := map[byte]string{}
	depth, start := 0, -1
	var key byte
	for i := 0; i < len(sddl); i++ {
		switch c := sddl[i]; {
		case c == '(':
			depth++
		case c == ')':
			depth--
		case depth == 0 && i+1 < len(sddl) && sddl[i+1] == ':' && strings.IndexByte("OGDS", c) >= 0:
			if start >= 0 {
				sections[key] = sddl[start:i]
			}
			key, start = c, i+2
			i++
		}
	}
	if start >= 0 {
		sections[key] = sddl[start:]
	}
	if depth != 0 {
		return d, fmt.Errorf("security descriptor %q: unbalanced parentheses", sddl)
	}
	if o, ok := sections['O']; ok {
		d.Owner = SID(o)
	}
	dacl, ok := sections['D']
	if !ok {
		return d, nil
	}
	flags, aces, _ := strings.Cut(dacl, "(")
	if aces != "" {
		aces = "(" + aces
	}
	d.NullDACL = strings.Contains(flags, "NO_ACCESS_CONTROL")
	d.Protected = strings.Contains(flags, "P")
	for aces != "" {
		end := strings.IndexByte(aces, ')')
		if aces[0] != '(' || end < 0 {
			return d, fmt.Errorf("security descriptor %q: bad entry at %q", sddl, aces)
		}
		ace, err := parseACE(aces[1:end])
		if err != nil {
			return d, fmt.Errorf("security descriptor %q: %w", sddl, err)
		}
		d.DACL = append(d.DACL, ace)
		aces = aces[end+1:]
	}
	return d, nil
}

// parseACE reads "type;flags;rights;object;inherited object;sid[;...]".
func parseACE(s string) (ACE, error) {
	f := strings.Split(s, ";")
	if len(f) < 6 {
		return ACE{}, fmt.Errorf("entry %q: want 6 fields", s)
	}
	mask, err := parseRights(f[2])
	if err != nil {
		return ACE{}, fmt.Errorf("entry %q: %w", s, err)
	}
	return ACE{Type: strings.ToUpper(f[0]), Flags: strings.ToUpper(f[1]), Mask: mask, SID: SID(f[5])}, nil
}

// rights are SDDL's access right codes (the DS codes are the file rights
// of the same bits: DC is FILE_ADD_FILE, LC FILE_ADD_SUBDIRECTORY).
var rights = map[string]uint32{
	"GA": genericAll, "GR": genericRead, "GW": genericWrite, "GX": 0x20000000,
	"FA": 0x1F01FF, "FR": 0x120089, "FW": 0x120116, "FX": 0x1200A0,
	"RC": 0x20000, "SD": deleteRight, "WD": writeDAC, "WO": writeOwner,
	"CC": 0x1, "DC": 0x2, "LC": 0x4, "SW": 0x8, "RP": 0x10, "WP": 0x20,
	"DT": deleteChild, "LO": 0x80, "CR": 0x100,
	"KA": 0xF003F, "KR": 0x20019, "KW": 0x20006, "KX": 0x20019,
}

func parseRights(s string) (uint32, error) {
	if s == "" {
		return 0, nil
	}
	if s[0] >= '0' && s[0] <= '9' {
		n, err := strconv.ParseUint(s, 0, 32)
		if err != nil {
			return 0, fmt.Errorf("rights %q: %w", s, err)
		}
		return uint32(n), nil
	}
	var m uint32
	for i := 0; i < len(s); i += 2 {
		if i+2 > len(s) {
			return 0, fmt.Errorf("rights %q: odd length", s)
		}
		r, ok := rights[strings.ToUpper(s[i:i+2])]
		if !ok {
			return 0, fmt.Errorf("rights %q: unknown code %q", s, s[i:i+2])
		}
		m |= r
	}
	return m, nil
}
