package runc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// conmonSync is a message conmon writes to its sync pipe: with
// --api-version 1 the container's PID (or -1 and an error message) in "data".
type conmonSync struct {
	Data    *int   `json:"data"`
	PID     *int   `json:"pid"`
	Message string `json:"message"`
}

// runConmon starts the container's conmon, which daemonizes, runs
// runc create, then monitors the container: it writes the container's output
// to the log in the CRI format and its exit code to the exit directory, and
// outlives this process. It returns the PIDs of conmon and of the container's
// process once runc create is done, or runc's error.
func (r *Runtime) runConmon(ctx context.Context, c *containerRecord, bundle string) (conmonPID, initPID int, err error) {
	dirs := conmonDirs{exits: filepath.Join(r.root, dirExits), sockets: filepath.Join(r.root, dirAttach), runcRoot: r.runcRoot()}
	return startConmon(ctx, r.conmonPath, conmonArgs(c, bundle, r.runcPath, dirs), bundle)
}

// conmonDirs are the directories conmon is told about: where it writes exit
// files, where it makes attach sockets, and runc's --root.
type conmonDirs struct {
	exits, sockets, runcRoot string
}

// conmonArgs returns conmon's arguments for container c in bundle, with
// --api-version 1 (PIDs and errors on the sync pipe) and runc at runcPath.
func conmonArgs(c *containerRecord, bundle, runcPath string, dirs conmonDirs) []string {
	return []string{
		"--api-version", "1",
		"-c", c.ID,
		"-u", c.ID,
		"-n", c.Name,
		"-r", runcPath,
		"-b", bundle,
		"-p", filepath.Join(bundle, fileInitPID),
		"-P", filepath.Join(bundle, fileConmonPID),
		"-l", "k8s-file:" + c.LogPath,
		"--exit-dir", dirs.exits,
		"--socket-dir-path", dirs.sockets,
		"--runtime-arg", "--root",
		"--runtime-arg", dirs.runcRoot,
		"--log-level", "error",
	}
}

// startConmon runs conmon with args for the container in bundle and waits
// until its runc create is done; see runConmon.
func startConmon(ctx context.Context, conmonPath string, args []string, bundle string) (conmonPID, initPID int, err error) {
	syncR, syncW, err := os.Pipe()
	if err != nil {
		return 0, 0, err
	}
	defer syncR.Close()
	// conmon's daemon keeps the standard streams it was given: a file, not a
	// pipe that exec would wait on.
	stderr, err := os.OpenFile(filepath.Join(bundle, "conmon.log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		syncW.Close()
		return 0, 0, err
	}
	defer stderr.Close()
	cmd := exec.Command(conmonPath, args...)
	cmd.Dir = bundle
	cmd.Stdout = stderr
	cmd.Stderr = stderr
	cmd.ExtraFiles = []*os.File{syncW}
	cmd.Env = append(os.Environ(), "_OCI_SYNCPIPE=3")
	err = cmd.Run()
	syncW.Close()
	if err != nil {
		return 0, 0, fmt.Errorf("conmon: %w: %s", err, conmonOutput(bundle))
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = syncR.SetReadDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = syncR.SetReadDeadline(time.Now()) })
	defer stop()
	var msg conmonSync
	if err := json.NewDecoder(syncR).Decode(&msg); err != nil {
		return 0, 0, fmt.Errorf("conmon: read sync pipe: %w: %s", errors.Join(err, ctx.Err()), conmonOutput(bundle))
	}
	pid := msg.Data
	if pid == nil {
		pid = msg.PID
	}
	if pid == nil || *pid <= 0 {
		return 0, 0, fmt.Errorf("runc create: %s", runcMessage(msg.Message))
	}
	data, err := os.ReadFile(filepath.Join(bundle, fileConmonPID))
	if err != nil {
		return 0, 0, fmt.Errorf("conmon: %w", err)
	}
	conmonPID, err = strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return 0, 0, fmt.Errorf("conmon: pid file: %w", err)
	}
	return conmonPID, *pid, nil
}

func conmonOutput(bundle string) string {
	data, _ := os.ReadFile(filepath.Join(bundle, "conmon.log"))
	return string(bytes.TrimSpace(data))
}

// runcMessage extracts msg="..." from runc's logrus line, for the
// container's termination message.
func runcMessage(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.Index(s, `msg="`); i >= 0 {
		if u, err := strconv.Unquote(s[i+4:]); err == nil {
			return u
		}
		rest := s[i+5:]
		if j := strings.LastIndex(rest, `"`); j >= 0 {
			return rest[:j]
		}
	}
	return s
}

// processAlive reports whether pid is a live (not zombie) process.
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 || i+2 >= len(data) {
		return false
	}
	st := data[i+2]
	return st != 'Z' && st != 'X'
}
