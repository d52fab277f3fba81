package winacl

import (
	"strings"
	"testing"
)

const agent = "S-1-5-21-1004336348-1177238915-682003330-1001"

// Descriptors as Windows gives them (icacls /save, Get-Acl's Sddl).
const (
	// C:\ProgramData, as installed: Users may add files and folders.
	programData = "O:SYG:SYD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICIIO;GA;;;CO)(A;OICI;0x1200a9;;;BU)(A;CI;DCLCRPCR;;;BU)"
	// C:\, as installed.
	driveRoot = "O:S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464G:S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464" +
		"D:PAI(A;OICIIO;SDGXGWGR;;;AU)(A;;LC;;;AU)(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x1200a9;;;BU)"
	// A folder another user made in C:\ProgramData before the agent did.
	squatted = "O:S-1-5-21-1004336348-1177238915-682003330-1002G:S-1-5-21-1004336348-1177238915-682003330-513" +
		"D:AI(A;OICIID;FA;;;SY)(A;OICIID;FA;;;BA)(A;OICIIOID;GA;;;CO)(A;OICIID;0x1200a9;;;BU)(A;CIID;DCLCRPCR;;;BU)(A;ID;FA;;;S-1-5-21-1004336348-1177238915-682003330-1002)"
)

func mustParse(t *testing.T, s string) Descriptor {
	t.Helper()
	d, err := Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestParse(t *testing.T) {
	d := mustParse(t, programData)
	if d.Owner != System || !d.Protected || d.NullDACL || len(d.DACL) != 5 {
		t.Fatalf("%+v", d)
	}
	if a := d.DACL[2]; a.SID != creatorOwner || !a.InheritOnly() || a.Mask != genericAll || !a.Allows() {
		t.Errorf("CO entry %+v", a)
	}
	if a := d.DACL[4]; a.SID != "S-1-5-32-545" || a.Mask != 0x2|0x4|0x10|0x100 || a.InheritOnly() {
		t.Errorf("Users' entry %+v", a)
	}
	if d := mustParse(t, "O:SYD:NO_ACCESS_CONTROL"); !d.NullDACL {
		t.Error("NO_ACCESS_CONTROL is a null DACL")
	}
	if d := mustParse(t, "O:SYG:SY"); !d.NullDACL {
		t.Error("no D: section is a null DACL")
	}
	if d := mustParse(t, "O:SYD:P"); d.NullDACL || len(d.DACL) != 0 {
		t.Errorf("an empty DACL: %+v", d)
	}
	if d := mustParse(t, PrivateFolder(agent)); d.Owner != agent || !d.Protected || len(d.DACL) != 3 || d.DACL[2].SID != agent {
		t.Errorf("PrivateFolder: %+v", d)
	}
	for _, bad := range []string{"D:(A;;FA;;;SY", "D:(A;;FA;;SY)", "D:(A;;ZZ;;;SY)", "D:(A;;F;;;SY)", "D:(A;;0xZ;;;SY)", "D:x(A;;FA;;;SY)y"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
}

func TestProblem(t *testing.T) {
	for _, c := range []struct {
		name, sddl, user string
		forbid           Access
		want             string // in the problem; "" for none
	}{
		{"made by the agent", PrivateFolder(agent), agent, ReadWrite, ""},
		{"made by the agent running as SYSTEM", PrivateFolder(System), System, ReadWrite, ""},
		// Windows writes the agent's SID as SY when it is SYSTEM.
		{"SYSTEM, written as SY", "O:SYD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)", System, ReadWrite, ""},
		{"owned by Administrators", "O:BAD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FA;;;" + agent + ")", agent, ReadWrite, ""},
		{"a folder as C:\\ProgramData's", programData, agent, Write, "lets Users (S-1-5-32-545) write"},
		{"someone else's", squatted, agent, Write, "is owned by S-1-5-21-1004336348-1177238915-682003330-1002, not by this user"},
		{"null DACL", "O:" + agent + "D:NO_ACCESS_CONTROL", agent, Write, "has no DACL"},
		{"Everyone may read", "O:" + agent + "D:P(A;OICI;FA;;;SY)(A;OICI;FR;;;WD)", agent, Write, ""},
		{"Everyone may read, private", "O:" + agent + "D:P(A;OICI;FA;;;SY)(A;OICI;FR;;;WD)", agent, ReadWrite, "lets Everyone (S-1-1-0) read"},
		{"Users may only pass", "O:" + agent + "D:P(A;;0x1200a0;;;BU)", agent, ReadWrite, ""},
		{"a child's entry for Users", "O:" + agent + "D:P(A;OICIIO;FW;;;BU)", agent, Write, "Users (S-1-5-32-545) write in what is made in it"},
		{"Authenticated Users may change the DACL", "O:" + agent + "D:P(A;;WD;;;AU)", agent, Write, "change its permissions"},
		{"a denied entry grants nothing", "O:" + agent + "D:P(D;;FA;;;WD)", agent, ReadWrite, ""},
		{"generic all for another user", "O:" + agent + "D:P(A;;GA;;;S-1-5-21-9-9-9-1003)", agent, Write, "S-1-5-21-9-9-9-1003 do anything"},
	} {
		got := Problem(mustParse(t, c.sddl), c.user, c.forbid)
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

func TestParentProblem(t *testing.T) {
	for _, c := range []struct{ name, sddl, want string }{
		// Users may add folders to these, not rename or remove them.
		{"C:\\ProgramData", programData, ""},
		{"C:\\", driveRoot, ""},
		{"Users may delete entries", "O:SYD:P(A;OICI;FA;;;SY)(A;;0x1201ff;;;BU)", "lets Users (S-1-5-32-545) write (rename or remove its entries)"},
		{"someone else's", squatted, "is owned by S-1-5-21-1004336348-1177238915-682003330-1002"},
		{"null DACL", "O:SYD:NO_ACCESS_CONTROL", "has no DACL"},
	} {
		got := ParentProblem(mustParse(t, c.sddl), agent)
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
