//go:build !linux

package stats

import "os"

// readFile reads dir+cgroupPath+"/"+name. Off Linux there are no cgroups;
// this exists so fixture-based code and tests build everywhere.
// Descriptors are not cached off Linux (r.files is ignored).
func (r *Reader) readFile(dir, cgroupPath, name string) ([]byte, error) {
	b, err := os.ReadFile(dir + cgroupPath + "/" + name)
	if err != nil {
		if pe, ok := err.(*os.PathError); ok {
			return nil, pe.Err
		}
		return nil, err
	}
	return b, nil
}

func (r *Reader) dirExists(dir, cgroupPath string) bool {
	st, err := os.Stat(dir + cgroupPath)
	return err == nil && st.IsDir()
}
