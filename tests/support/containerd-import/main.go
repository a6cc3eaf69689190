// containerd-import imports OCI image archives with containerd v1.6.20's own client code
// (Client.Import with WithAllPlatforms: what `ctr -n k8s.io images import --all-platforms` runs)
// into a local content store and bolt metadata under ROOT, with no daemon, then unpacks each image
// into the native snapshotter through the walking differ and lists the unpacked root filesystem.
// Prints one JSON object per imported image.
//
//	containerd-import ROOT ARCHIVE...
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/content/local"
	"github.com/containerd/containerd/diff"
	"github.com/containerd/containerd/diff/apply"
	"github.com/containerd/containerd/diff/walking"
	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/metadata"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/platforms"
	"github.com/containerd/containerd/snapshots"
	"github.com/containerd/containerd/snapshots/native"
	"github.com/opencontainers/image-spec/identity"
	bolt "go.etcd.io/bbolt"
)

type diffService struct {
	diff.Comparer
	diff.Applier
}

type file struct {
	Name string `json:"name"`
	Mode string `json:"mode"`
	UID  uint32 `json:"uid"`
	GID  uint32 `json:"gid"`
	Size int64  `json:"size"`
}

type result struct {
	Archive string   `json:"archive"`
	Name    string   `json:"name"`
	Target  string   `json:"target"`
	Config  string   `json:"config"`
	DiffIDs []string `json:"diffIDs"`
	Files   []file   `json:"files"`
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: containerd-import ROOT ARCHIVE...")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(root string, archives []string) error {
	// The namespace the CRI plugin (and so kubelet) uses.
	ctx := namespaces.WithNamespace(context.Background(), "k8s.io")
	cs, err := local.NewStore(filepath.Join(root, "content"))
	if err != nil {
		return err
	}
	bdb, err := bolt.Open(filepath.Join(root, "meta.db"), 0o644, nil)
	if err != nil {
		return err
	}
	defer bdb.Close()
	sn, err := native.NewSnapshotter(filepath.Join(root, "native"))
	if err != nil {
		return err
	}
	db := metadata.NewDB(bdb, cs, map[string]snapshots.Snapshotter{"native": sn})
	if err := db.Init(ctx); err != nil {
		return err
	}
	mcs := db.ContentStore()
	client, err := containerd.New("", containerd.WithServices(
		containerd.WithContentStore(mcs),
		containerd.WithImageStore(metadata.NewImageStore(db)),
		containerd.WithLeasesService(metadata.NewLeaseManager(db)),
		containerd.WithSnapshotters(map[string]snapshots.Snapshotter{"native": db.Snapshotter("native")}),
		containerd.WithDiffService(diffService{walking.NewWalkingDiff(mcs), apply.NewFileSystemApplier(mcs)}),
	), containerd.WithDefaultPlatform(platforms.Default()))
	if err != nil {
		return err
	}
	snapshotter := db.Snapshotter("native")
	enc := json.NewEncoder(os.Stdout)
	for _, a := range archives {
		f, err := os.Open(a)
		if err != nil {
			return err
		}
		imgs, err := client.Import(ctx, f, containerd.WithAllPlatforms(true))
		f.Close()
		if err != nil {
			return fmt.Errorf("import %s: %w", a, err)
		}
		if len(imgs) == 0 {
			return fmt.Errorf("import %s: no image named (no io.containerd.image.name / ref.name annotation)", a)
		}
		for _, im := range imgs {
			avail, _, _, missing, err := images.Check(ctx, mcs, im.Target, platforms.Default())
			if err != nil || !avail || len(missing) > 0 {
				return fmt.Errorf("%s: content incomplete (available=%v, %d missing): %v", im.Name, avail, len(missing), err)
			}
			img := containerd.NewImage(client, im)
			if err := img.Unpack(ctx, "native"); err != nil {
				return fmt.Errorf("%s: unpack: %w", im.Name, err)
			}
			diffIDs, err := img.RootFS(ctx)
			if err != nil {
				return err
			}
			cfg, err := img.Config(ctx)
			if err != nil {
				return err
			}
			r := result{Archive: filepath.Base(a), Name: im.Name, Target: im.Target.Digest.String(), Config: cfg.Digest.String()}
			for _, d := range diffIDs {
				r.DiffIDs = append(r.DiffIDs, d.String())
			}
			chain := identity.ChainID(diffIDs).String()
			// One view per image: two images may share a layer (Argo CD's two do).
			mounts, err := snapshotter.View(ctx, "view-"+im.Target.Digest.String(), chain)
			if err != nil {
				return fmt.Errorf("%s: view of the unpacked snapshot %s: %w", im.Name, chain, err)
			}
			entries, err := os.ReadDir(mounts[0].Source)
			if err != nil {
				return err
			}
			for _, e := range entries {
				fi, err := e.Info()
				if err != nil {
					return err
				}
				st := fi.Sys().(*syscall.Stat_t)
				r.Files = append(r.Files, file{Name: e.Name(), Mode: fi.Mode().String(), UID: st.Uid, GID: st.Gid, Size: fi.Size()})
			}
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
	}
	return nil
}
