package oci

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	v1 "k8s.io/api/core/v1"
)

// resolvedUser is the identity a container's process runs as.
type resolvedUser struct {
	uid, gid       uint32
	additionalGIDs []uint32
}

// WithUser sets the process's uid, gid and additional gids as the kubelet
// and containerd's CRI plugin do, and enforces runAsNonRoot:
//
//   - the user is the effective runAsUser (container securityContext over
//     pod securityContext), else the image's user; an image without a user
//     runs as root. As in the kubelet, only the user part of an image's
//     "user:group" is used;
//   - the gid is the effective runAsGroup, else the user's primary group in
//     the image's /etc/passwd, else 0;
//   - a named image user is looked up in the image's /etc/passwd (symbolic
//     links resolved inside Options.RootfsPath);
//   - the additional gids are the primary gid, the groups of the image's
//     /etc/group that list the user (unless supplementalGroupsPolicy is
//     Strict), fsGroup, then supplementalGroups;
//   - runAsNonRoot refuses a runAsUser of 0, an image user of root, and an
//     image user given by name (which cannot be verified before the
//     container runs), with the kubelet's messages and ErrRunAsNonRoot.
func WithUser(_ context.Context, in *Input, s *specs.Spec) error {
	u, err := in.resolveUser()
	if err != nil {
		return err
	}
	s.Process.User = specs.User{UID: u.uid, GID: u.gid, AdditionalGids: append([]uint32(nil), u.additionalGIDs...)}
	return nil
}

func (in *Input) resolveUser() (*resolvedUser, error) {
	if !in.userDone {
		in.user, in.userErr = resolveUser(in)
		in.userDone = true
	}
	return in.user, in.userErr
}

// effectiveSecurityContext merges the pod's and the container's security
// contexts as securitycontext.DetermineEffectiveSecurityContext: each field
// set on the container wins.
func effectiveSecurityContext(pod *v1.Pod, c *v1.Container) v1.SecurityContext {
	var eff v1.SecurityContext
	if psc := pod.Spec.SecurityContext; psc != nil {
		eff.SELinuxOptions = psc.SELinuxOptions
		eff.WindowsOptions = psc.WindowsOptions
		eff.RunAsUser = psc.RunAsUser
		eff.RunAsGroup = psc.RunAsGroup
		eff.RunAsNonRoot = psc.RunAsNonRoot
		eff.SeccompProfile = psc.SeccompProfile
		eff.AppArmorProfile = psc.AppArmorProfile
	}
	csc := c.SecurityContext
	if csc == nil {
		return eff
	}
	if csc.SELinuxOptions != nil {
		eff.SELinuxOptions = csc.SELinuxOptions
	}
	if csc.WindowsOptions != nil {
		eff.WindowsOptions = csc.WindowsOptions
	}
	if csc.RunAsUser != nil {
		eff.RunAsUser = csc.RunAsUser
	}
	if csc.RunAsGroup != nil {
		eff.RunAsGroup = csc.RunAsGroup
	}
	if csc.RunAsNonRoot != nil {
		eff.RunAsNonRoot = csc.RunAsNonRoot
	}
	if csc.SeccompProfile != nil {
		eff.SeccompProfile = csc.SeccompProfile
	}
	if csc.AppArmorProfile != nil {
		eff.AppArmorProfile = csc.AppArmorProfile
	}
	eff.Capabilities = csc.Capabilities
	eff.Privileged = csc.Privileged
	eff.ReadOnlyRootFilesystem = csc.ReadOnlyRootFilesystem
	eff.AllowPrivilegeEscalation = csc.AllowPrivilegeEscalation
	eff.ProcMount = csc.ProcMount
	return eff
}

// imageUser splits an image's user into a uid or a name, as the CRI's
// image status does (getUserFromImage): the group part is dropped; an
// empty user is uid 0.
func imageUser(user string) (uid *int64, name string) {
	user, _, _ = strings.Cut(user, ":")
	if user == "" {
		zero := int64(0)
		return &zero, ""
	}
	if v, err := strconv.ParseInt(user, 10, 64); err == nil {
		return &v, ""
	}
	return nil, user
}

// verifyRunAsNonRoot is the kubelet's verifyRunAsNonRoot.
func verifyRunAsNonRoot(pod *v1.Pod, c *v1.Container, eff *v1.SecurityContext, uid *int64, username string) error {
	if eff.RunAsNonRoot == nil || !*eff.RunAsNonRoot {
		return nil
	}
	if eff.RunAsUser != nil {
		if *eff.RunAsUser == 0 {
			return fmt.Errorf("container's runAsUser breaks non-root policy (pod: %q, container: %s): %w", formatPod(pod), c.Name, ErrRunAsNonRoot)
		}
		return nil
	}
	switch {
	case uid == nil && username != "":
		return fmt.Errorf("container has runAsNonRoot and image has non-numeric user (%s), cannot verify user is non-root (pod: %q, container: %s): %w", username, formatPod(pod), c.Name, ErrRunAsNonRoot)
	case uid != nil && *uid == 0:
		return fmt.Errorf("container has runAsNonRoot and image will run as root (pod: %q, container: %s): %w", formatPod(pod), c.Name, ErrRunAsNonRoot)
	case uid != nil && (*uid < 0 || *uid > math.MaxInt32):
		return fmt.Errorf("container has runAsNonRoot and image has an invalid user id (%d). (Must be 1-(%d)) (pod: %q, container: %s): %w", *uid, math.MaxInt32, formatPod(pod), c.Name, ErrRunAsNonRoot)
	}
	return nil
}

func resolveUser(in *Input) (*resolvedUser, error) {
	pod, c := in.Pod, in.Container
	eff := effectiveSecurityContext(pod, c)
	imgUID, imgName := imageUser(in.Options.Image.User)
	if err := verifyRunAsNonRoot(pod, c, &eff, imgUID, imgName); err != nil {
		return nil, err
	}
	db := &userDB{fs: in.Options.HostFS, rootfs: in.Options.RootfsPath}

	var u resolvedUser
	var username string
	switch {
	case eff.RunAsUser != nil || imgUID != nil:
		field, v := "securityContext.runAsUser", eff.RunAsUser
		if v == nil {
			field, v = "image user", imgUID
		}
		if *v < 0 || *v > math.MaxUint32 {
			return nil, invalid(field, "uid %d is out of range", *v)
		}
		u.uid = uint32(*v)
		entry, err := db.userByUID(u.uid)
		if err != nil {
			return nil, err
		}
		if entry != nil {
			username, u.gid = entry.name, entry.gid
		}
	default:
		entry, err := db.userByName(imgName)
		if err != nil {
			return nil, err
		}
		if entry == nil {
			return nil, fmt.Errorf("image user %q: no such user in the image's /etc/passwd: %w", imgName, ErrUserNotFound)
		}
		username, u.uid, u.gid = entry.name, entry.uid, entry.gid
	}
	if eff.RunAsGroup != nil {
		if *eff.RunAsGroup < 0 || *eff.RunAsGroup > math.MaxUint32 {
			return nil, invalid("securityContext.runAsGroup", "gid %d is out of range", *eff.RunAsGroup)
		}
		u.gid = uint32(*eff.RunAsGroup)
	}

	psc := pod.Spec.SecurityContext
	strict := psc != nil && psc.SupplementalGroupsPolicy != nil && *psc.SupplementalGroupsPolicy == v1.SupplementalGroupsPolicyStrict
	gids := []uint32{u.gid}
	if username != "" && !strict {
		groups, err := db.groupsOf(username)
		if err != nil {
			return nil, err
		}
		gids = append(gids, groups...)
	}
	if psc != nil {
		if psc.FSGroup != nil {
			if *psc.FSGroup < 0 || *psc.FSGroup > math.MaxUint32 {
				return nil, invalid("spec.securityContext.fsGroup", "gid %d is out of range", *psc.FSGroup)
			}
			gids = append(gids, uint32(*psc.FSGroup))
		}
		for i, g := range psc.SupplementalGroups {
			if g < 0 || g > math.MaxUint32 {
				return nil, invalid(fmt.Sprintf("spec.securityContext.supplementalGroups[%d]", i), "gid %d is out of range", g)
			}
			gids = append(gids, uint32(g))
		}
	}
	u.additionalGIDs = dedupe(gids)
	return &u, nil
}

func dedupe(gids []uint32) []uint32 {
	out := gids[:0]
	for _, g := range gids {
		seen := false
		for _, o := range out {
			if o == g {
				seen = true
				break
			}
		}
		if !seen {
			out = append(out, g)
		}
	}
	return out
}

// userDB reads an image's /etc/passwd and /etc/group.
type userDB struct {
	fs     HostFS
	rootfs string

	passwdEntries []passwdEntry
	passwdRead    bool
}

type passwdEntry struct {
	name     string
	uid, gid uint32
}

type groupEntry struct {
	name    string
	gid     uint32
	members []string
}

// readImageFile reads name inside the rootfs, resolving symbolic links as
// if the rootfs were the root. A missing file (or no rootfs) is nil.
func (db *userDB) readImageFile(name string) ([]byte, error) {
	if db.rootfs == "" {
		return nil, nil
	}
	p, err := securejoin.SecureJoinVFS(filepath.Clean(db.rootfs), name, db.fs)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", name, err)
	}
	data, err := db.fs.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", name, err)
	}
	return data, nil
}

func (db *userDB) passwd() ([]passwdEntry, error) {
	if db.passwdRead {
		return db.passwdEntries, nil
	}
	data, err := db.readImageFile("/etc/passwd")
	if err != nil {
		return nil, err
	}
	db.passwdEntries, db.passwdRead = parsePasswd(data), true
	return db.passwdEntries, nil
}

func (db *userDB) userByUID(uid uint32) (*passwdEntry, error) {
	entries, err := db.passwd()
	if err != nil {
		return nil, err
	}
	for i := range entries {
		if entries[i].uid == uid {
			return &entries[i], nil
		}
	}
	return nil, nil
}

func (db *userDB) userByName(name string) (*passwdEntry, error) {
	if db.rootfs == "" {
		return nil, fmt.Errorf("image user %q: a named user needs the image's root filesystem (Options.RootfsPath): %w", name, ErrMissingOption)
	}
	entries, err := db.passwd()
	if err != nil {
		return nil, err
	}
	for i := range entries {
		if entries[i].name == name {
			return &entries[i], nil
		}
	}
	return nil, nil
}

// groupsOf returns the gids of the groups that list user as a member,
// except a group named like the user (containerd's WithAdditionalGIDs).
func (db *userDB) groupsOf(user string) ([]uint32, error) {
	data, err := db.readImageFile("/etc/group")
	if err != nil || data == nil {
		return nil, err
	}
	var gids []uint32
	for _, g := range parseGroup(data) {
		if g.name == user {
			continue
		}
		for _, m := range g.members {
			if m == user {
				gids = append(gids, g.gid)
				break
			}
		}
	}
	return gids, nil
}

// colonRecords splits the lines of a colon-separated database (/etc/passwd,
// /etc/group) into fields, skipping blank lines, comments, lines with fewer
// than minFields fields and lines with an empty name, as libc does.
func colonRecords(data []byte, minFields int) [][]string {
	var out [][]string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) < minFields || f[0] == "" {
			continue
		}
		out = append(out, f)
	}
	return out
}

// parsePasswd parses /etc/passwd lines "name:password:uid:gid:gecos:home:shell",
// skipping comments and malformed lines as libc does.
func parsePasswd(data []byte) []passwdEntry {
	var out []passwdEntry
	for _, f := range colonRecords(data, 4) {
		uid, err1 := strconv.ParseUint(f[2], 10, 32)
		gid, err2 := strconv.ParseUint(f[3], 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		out = append(out, passwdEntry{name: f[0], uid: uint32(uid), gid: uint32(gid)})
	}
	return out
}

// parseGroup parses /etc/group lines "name:password:gid:member,member".
func parseGroup(data []byte) []groupEntry {
	var out []groupEntry
	for _, f := range colonRecords(data, 3) {
		gid, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			continue
		}
		g := groupEntry{name: f[0], gid: uint32(gid)}
		if len(f) > 3 && f[3] != "" {
			g.members = strings.Split(f[3], ",")
		}
		out = append(out, g)
	}
	return out
}
