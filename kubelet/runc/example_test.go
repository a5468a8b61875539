package runc_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nodekit/nodekit/kubelet"
	"github.com/nodekit/nodekit/kubelet/runc"
)

// An image store is a directory of unpacked images: a root filesystem and an
// optional OCI image configuration per reference.
func ExampleDirImageStore_Resolve() {
	dir, _ := os.MkdirTemp("", "images")
	defer os.RemoveAll(dir)
	store := runc.DirImageStore(dir)
	app := store.ImageDir("registry.example/app:v1")
	_ = os.MkdirAll(filepath.Join(app, "rootfs"), 0o755)
	_ = os.WriteFile(filepath.Join(app, "config.json"),
		[]byte(`{"config":{"Entrypoint":["/app"],"Cmd":["--serve"],"User":"65534","WorkingDir":"/srv"}}`), 0o644)

	img, err := store.Resolve(context.Background(), "registry.example/app:v1")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(img.Config.Entrypoint, img.Config.Cmd, img.Config.User, img.Config.WorkingDir)

	_, err = store.Resolve(context.Background(), "registry.example/other:v1")
	fmt.Println(errors.Is(err, runc.ErrImageNotFound))
	_, err = store.Resolve(context.Background(), "bad ref")
	fmt.Println(errors.Is(err, kubelet.ErrInvalidImageName))
	// Output:
	// [/app] [--serve] 65534 /srv
	// true
	// true
}

// The default pod network: a bridge with host-local addresses, the pod's
// gateway on the bridge and no IP masquerading.
func ExampleDefaultConfList() {
	conf, err := runc.DefaultConfList("pods", "cni0", "10.88.0.0/16", "/var/lib/nodekit/cni/networks")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(conf))
	// Output:
	// {
	//   "cniVersion": "1.0.0",
	//   "name": "pods",
	//   "plugins": [
	//     {
	//       "bridge": "cni0",
	//       "hairpinMode": true,
	//       "ipMasq": false,
	//       "ipam": {
	//         "dataDir": "/var/lib/nodekit/cni/networks",
	//         "ranges": [
	//           [
	//             {
	//               "subnet": "10.88.0.0/16"
	//             }
	//           ]
	//         ],
	//         "routes": [
	//           {
	//             "dst": "0.0.0.0/0"
	//           }
	//         ],
	//         "type": "host-local"
	//       },
	//       "isGateway": true,
	//       "type": "bridge"
	//     }
	//   ]
	// }
}

// New refuses a relative state directory before touching anything.
func ExampleNew() {
	_, err := runc.New("relative/dir", runc.Options{Images: runc.DirImageStore("/images")})
	fmt.Println(errors.Is(err, runc.ErrInvalidOptions))
	// Output:
	// true
}
