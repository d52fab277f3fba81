package winacl

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/windows"
)

// CurrentUser is the SID of the user this process runs as.
func CurrentUser() (string, error) {
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return "", fmt.Errorf("this process's user: %w", err)
	}
	return u.User.Sid.String(), nil
}

// Mkdir makes the folder path with PrivateFolder's descriptor, in one
// step: there is no moment when it has its parent's entries.
func Mkdir(path string) error {
	user, err := CurrentUser()
	if err != nil {
		return err
	}
	sd, err := windows.SecurityDescriptorFromString(PrivateFolder(user))
	if err != nil {
		return fmt.Errorf("security descriptor: %w", err)
	}
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return err
	}
	sa := &windows.SecurityAttributes{SecurityDescriptor: sd}
	sa.Length = uint32(unsafe.Sizeof(*sa))
	if err := windows.CreateDirectory(p, sa); err != nil {
		return &os.PathError{Op: "mkdir", Path: path, Err: err}
	}
	return nil
}

// Of reads the owner and DACL of the open file or folder f.
func Of(f *os.File) (Descriptor, error) {
	sd, err := windows.GetSecurityInfo(windows.Handle(f.Fd()), windows.SE_FILE_OBJECT,
		windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return Descriptor{}, fmt.Errorf("read the permissions of %s: %w", f.Name(), err)
	}
	return Parse(sd.String())
}

// Check says who else than SYSTEM, Administrators and this user may
// use the open folder f as forbid says ("" when no one).
func Check(f *os.File, forbid Access) (string, error) {
	return decide(f, func(d Descriptor, user string) string { return Problem(d, user, forbid) })
}

// CheckParent says who else may rename the entries of the open folder f
// ("" when no one).
func CheckParent(f *os.File) (string, error) { return decide(f, ParentProblem) }

// decide reads f's descriptor and this process's user, and asks problem.
func decide(f *os.File, problem func(d Descriptor, user string) string) (string, error) {
	user, err := CurrentUser()
	if err != nil {
		return "", err
	}
	d, err := Of(f)
	if err != nil {
		return "", err
	}
	return problem(d, user), nil
}
