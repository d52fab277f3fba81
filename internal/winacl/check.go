package winacl

import (
	"fmt"
	"strings"
)

// Access rights the checks look for.
const (
	readData    = 0x1 // FILE_READ_DATA, FILE_LIST_DIRECTORY
	readEA      = 0x8
	deleteChild = 0x40 // FILE_DELETE_CHILD
	deleteRight = 0x10000
	writeDAC    = 0x40000
	writeOwner  = 0x80000
	maxAllowed  = 0x02000000
	genericAll  = 0x10000000
	genericW    = 0x40000000
	genericRead = 0x80000000

	genericWrite = genericW
	// writeRights change a folder or what is in it: write data or add a
	// file, append or add a folder, write extended attributes or
	// attributes, delete a child or the folder itself, change its DACL or
	// owner.
	writeRights = 0x2 | 0x4 | 0x10 | deleteChild | 0x100 | deleteRight | writeDAC | writeOwner | maxAllowed | genericAll | genericWrite
	// readRights read a folder's names or a file's data.
	readRights = readData | readEA | maxAllowed | genericAll | genericRead
	// renameRights let a parent's entries be renamed or removed, or its
	// DACL be changed to allow that.
	renameRights = deleteChild | writeDAC | writeOwner | maxAllowed | genericAll
)

// Access is what others may not do to a folder.
type Access int

const (
	// Write: no one else may change the folder or add to it (the data
	// folder: Linux refuses group or others' w).
	Write Access = iota
	// ReadWrite: no one else may read it either (the secrets folders:
	// Linux's 0700).
	ReadWrite
)

// PrivateFolder is the SDDL of a folder only SYSTEM, Administrators and
// the user (a SID) may use, owned by the user: protected (nothing is
// inherited from its parent), its entries inherited by the files and
// folders made in it.
func PrivateFolder(user string) string {
	return fmt.Sprintf("O:%sD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FA;;;%s)", user, user)
}

// trusted reports whether sid is the system, the administrators or user,
// or a placeholder that stands for the owner.
func trusted(sid, user string) bool {
	switch sid {
	case System, Administrators, trustedInstall, creatorOwner, ownerRights, SID(user):
		return true
	}
	return false
}

// Problem says who else may use a folder and how, completing "PATH ...".
// It is "" when no one else may.
func Problem(d Descriptor, user string, forbid Access) string {
	if d.Owner != "" && !trusted(d.Owner, user) {
		return fmt.Sprintf("is owned by %s, not by this user (%s), SYSTEM or Administrators", who(d.Owner), SID(user))
	}
	if d.NullDACL {
		return "has no DACL: everyone may read and change it"
	}
	mask := uint32(writeRights)
	if forbid == ReadWrite {
		mask |= readRights
	}
	if p := others(d, user, mask, true); p != "" {
		return "lets " + p
	}
	return ""
}

// ParentProblem says who else may rename or remove a parent's entries
// (so swap a folder of shoal's for theirs), or "". Entries that only its
// children inherit do not count: shoal's folders inherit nothing.
func ParentProblem(d Descriptor, user string) string {
	if d.Owner != "" && !trusted(d.Owner, user) {
		return fmt.Sprintf("is owned by %s, who may let anyone rename its entries", who(d.Owner))
	}
	if d.NullDACL {
		return "has no DACL: everyone may rename its entries"
	}
	if p := others(d, user, renameRights, false); p != "" {
		return "lets " + p + " (rename or remove its entries)"
	}
	return ""
}

// others lists the untrusted trustees that an allow entry grants any of
// mask, with what they are granted; inheritOnly says whether entries for
// children only count.
func others(d Descriptor, user string, mask uint32, inheritOnly bool) string {
	var out []string
	for _, a := range d.DACL {
		if !a.Allows() || trusted(a.SID, user) || a.Mask&mask == 0 || (!inheritOnly && a.InheritOnly()) {
			continue
		}
		s := fmt.Sprintf("%s %s", who(a.SID), describe(a.Mask&mask))
		if a.InheritOnly() {
			s += " in what is made in it"
		}
		out = append(out, s)
	}
	return strings.Join(out, ", ")
}

func who(sid string) string {
	if n, ok := names[sid]; ok {
		return n + " (" + sid + ")"
	}
	return sid
}

// describe names the rights of m, most telling first.
func describe(m uint32) string {
	switch {
	case m&(genericAll|maxAllowed) != 0:
		return "do anything"
	case m&(writeDAC|writeOwner) != 0:
		return "change its permissions"
	case m&(writeRights&^(writeDAC|writeOwner)) != 0 && m&readRights != 0:
		return "read and write"
	case m&writeRights != 0:
		return "write"
	default:
		return "read"
	}
}
