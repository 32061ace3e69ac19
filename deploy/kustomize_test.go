package deploy

// A small, strict subset of kustomize, enough to build the base and the
// overlays the way `kubectl apply -k` would, so that the property tests run
// on what the cluster would receive, overlay patches included. Anything the
// subset does not understand (namePrefix, generators, replacements, ...) is
// an error naming the field, not silently ignored: extend the subset when a
// kustomization needs more. Pulling in sigs.k8s.io/kustomize itself would
// add dozens of modules for a test.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"sigs.k8s.io/yaml"
)

// object is one decoded manifest.
type object struct {
	File       string // where it came from (a patched object keeps its base file)
	APIVersion string
	Kind       string
	Name       string
	// Obj is a pointer to the typed API object (*batchv1.CronJob, ...).
	Obj any
}

func (o object) String() string { return fmt.Sprintf("%s %s (%s)", o.Kind, o.Name, o.File) }

// newTyped returns a new API object for apiVersion and kind. These are the
// kinds dpstats' manifests use; a new kind needs a case here, so that it is
// decoded strictly too.
func newTyped(apiVersion, kind string) (any, error) {
	switch apiVersion + " " + kind {
	case "batch/v1 CronJob":
		return &batchv1.CronJob{}, nil
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}, nil
	case "v1 PersistentVolumeClaim":
		return &corev1.PersistentVolumeClaim{}, nil
	case "v1 ServiceAccount":
		return &corev1.ServiceAccount{}, nil
	case "v1 Namespace":
		return &corev1.Namespace{}, nil
	case "networking.k8s.io/v1 NetworkPolicy":
		return &networkingv1.NetworkPolicy{}, nil
	}
	return nil, fmt.Errorf("apiVersion %q kind %q: not a kind this test knows; add it to newTyped", apiVersion, kind)
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// rawDoc is one YAML document of a file, as JSON.
type rawDoc struct {
	File string
	JSON []byte
}

// readDocs splits a YAML file into its documents, converted to JSON;
// documents holding only comments are dropped.
func readDocs(path string) ([]rawDoc, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var docs []rawDoc
	for i, part := range docSeparator.Split(string(data), -1) {
		j, err := yaml.YAMLToJSONStrict([]byte(part)) // duplicate keys are errors
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", path, i+1, err)
		}
		if bytes.Equal(bytes.TrimSpace(j), []byte("null")) {
			continue
		}
		docs = append(docs, rawDoc{File: path, JSON: j})
	}
	return docs, nil
}

// decodeStrict decodes one document into its API type, refusing unknown and
// duplicate fields: a misspelt key (readOnlyRootFileSystem) must fail, not
// vanish.
func decodeStrict(d rawDoc) (object, error) {
	var tm metav1.TypeMeta
	if err := json.Unmarshal(d.JSON, &tm); err != nil {
		return object{}, fmt.Errorf("%s: %w", d.File, err)
	}
	obj, err := newTyped(tm.APIVersion, tm.Kind)
	if err != nil {
		return object{}, fmt.Errorf("%s: %w", d.File, err)
	}
	if err := yaml.UnmarshalStrict(d.JSON, obj); err != nil {
		return object{}, fmt.Errorf("%s: %s %w", d.File, tm.Kind, err)
	}
	meta, ok := obj.(metav1.Object)
	if !ok {
		return object{}, fmt.Errorf("%s: %s has no metadata", d.File, tm.Kind)
	}
	if meta.GetName() == "" {
		return object{}, fmt.Errorf("%s: %s without metadata.name", d.File, tm.Kind)
	}
	return object{File: d.File, APIVersion: tm.APIVersion, Kind: tm.Kind, Name: meta.GetName(), Obj: obj}, nil
}

// decodeFile decodes every document of a manifest file strictly.
func decodeFile(path string) ([]object, error) {
	docs, err := readDocs(path)
	if err != nil {
		return nil, err
	}
	if len(docs) == 0 {
		return nil, fmt.Errorf("%s: no manifest in it", path)
	}
	var objs []object
	for _, d := range docs {
		o, err := decodeStrict(d)
		if err != nil {
			return nil, err
		}
		objs = append(objs, o)
	}
	return objs, nil
}

// kustomization is the subset of kustomization.yaml this test understands.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace,omitempty"`
	Resources  []string `json:"resources,omitempty"`
	Components []string `json:"components,omitempty"`
	Patches    []struct {
		Path string `json:"path"`
	} `json:"patches,omitempty"`
	Images []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
		Digest  string `json:"digest,omitempty"`
	} `json:"images,omitempty"`
}

func readKustomization(dir, wantKind string) (*kustomization, error) {
	path := filepath.Join(dir, "kustomization.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var k kustomization
	if err := yaml.UnmarshalStrict(data, &k); err != nil {
		return nil, fmt.Errorf("%s: %w (this test understands resources, components, patches (path), images and namespace; extend kustomize_test.go for more)", path, err)
	}
	wantAPI := map[string]string{
		"Kustomization": "kustomize.config.k8s.io/v1beta1",
		"Component":     "kustomize.config.k8s.io/v1alpha1",
	}[wantKind]
	if k.Kind != wantKind || k.APIVersion != wantAPI {
		return nil, fmt.Errorf("%s: %s %s, want %s %s", path, k.APIVersion, k.Kind, wantAPI, wantKind)
	}
	return &k, nil
}

// build is the result of building a kustomization.
type build struct {
	Objects []object
	// Files are every file the build read (kustomizations, resources,
	// patches), absolute.
	Files map[string]bool
}

// buildKustomization builds the kustomization in dir, plus extraComponents
// (directories) as if they were listed under its components.
func buildKustomization(dir string, extraComponents ...string) (*build, error) {
	b := &build{Files: map[string]bool{}}
	var extra []string
	for _, c := range extraComponents {
		abs, err := filepath.Abs(c)
		if err != nil {
			return nil, err
		}
		extra = append(extra, abs)
	}
	objs, err := b.run(dir, "Kustomization", extra, nil)
	if err != nil {
		return nil, err
	}
	b.Objects = objs
	return b, nil
}

// run builds dir, a Kustomization or a Component; a component starts from
// the objects built so far (in), as kustomize applies components to the
// resources of the kustomization that lists them.
func (b *build) run(dir, kind string, extraComponents []string, in []object) ([]object, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	k, err := readKustomization(abs, kind)
	if err != nil {
		return nil, err
	}
	b.Files[filepath.Join(abs, "kustomization.yaml")] = true
	objs := in
	for _, r := range k.Resources {
		p := filepath.Join(abs, r)
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("%s: resource %s: %w", abs, r, err)
		}
		var more []object
		if fi.IsDir() {
			more, err = b.run(p, "Kustomization", nil, nil)
		} else {
			b.Files[p] = true
			more, err = decodeFile(p)
		}
		if err != nil {
			return nil, err
		}
		for _, o := range more {
			for _, have := range objs {
				if have.Kind == o.Kind && have.Name == o.Name {
					return nil, fmt.Errorf("%s: %s defined twice (also in %s)", o.File, o.Kind, have.File)
				}
			}
			objs = append(objs, o)
		}
	}
	for _, c := range append(append([]string(nil), k.Components...), extraComponents...) {
		p := c
		if !filepath.IsAbs(p) {
			p = filepath.Join(abs, c)
		}
		if objs, err = b.run(p, "Component", nil, objs); err != nil {
			return nil, err
		}
	}
	for _, p := range k.Patches {
		if p.Path == "" {
			return nil, fmt.Errorf("%s: a patch without path (inline patches and targets are not supported by this test)", abs)
		}
		path := filepath.Join(abs, p.Path)
		b.Files[path] = true
		if objs, err = applyPatchFile(objs, path); err != nil {
			return nil, err
		}
	}
	for _, img := range k.Images {
		for _, o := range objs {
			if cj, ok := o.Obj.(*batchv1.CronJob); ok {
				spec := &cj.Spec.JobTemplate.Spec.Template.Spec
				for _, cs := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
					for i := range cs {
						cs[i].Image = setImage(cs[i].Image, img.Name, img.NewName, img.NewTag, img.Digest)
					}
				}
			}
		}
	}
	if k.Namespace != "" {
		for _, o := range objs {
			if o.Kind != "Namespace" {
				o.Obj.(metav1.Object).SetNamespace(k.Namespace)
			}
		}
	}
	return objs, nil
}

// applyPatchFile applies each document of a strategic-merge patch file to
// the object of the same kind and name, as kustomize's patchesStrategicMerge
// does, with the API type's patch strategies (lists of containers merge by
// name, and so on). The patch is decoded strictly first, so a misspelt field
// in a patch fails as well.
func applyPatchFile(objs []object, path string) ([]object, error) {
	docs, err := readDocs(path)
	if err != nil {
		return nil, err
	}
	for _, d := range docs {
		p, err := decodeStrict(d)
		if err != nil {
			return nil, fmt.Errorf("patch %w", err)
		}
		i := -1
		for j, o := range objs {
			if o.Kind == p.Kind && o.Name == p.Name {
				i = j
			}
		}
		if i < 0 {
			return nil, fmt.Errorf("%s: patch for %s %s, which no resource defines", path, p.Kind, p.Name)
		}
		orig, err := json.Marshal(objs[i].Obj)
		if err != nil {
			return nil, err
		}
		fresh, _ := newTyped(p.APIVersion, p.Kind)
		merged, err := strategicpatch.StrategicMergePatch(orig, d.JSON, fresh)
		if err != nil {
			return nil, fmt.Errorf("%s: patch %s %s: %w", path, p.Kind, p.Name, err)
		}
		out, err := decodeStrict(rawDoc{File: objs[i].File, JSON: merged})
		if err != nil {
			return nil, fmt.Errorf("%s: patched %w", path, err)
		}
		objs[i] = out
	}
	return objs, nil
}

// setImage applies a kustomize images: entry to image if its name matches.
func setImage(image, name, newName, newTag, digest string) string {
	base, tag, dig := splitImage(image)
	if base != name {
		return image
	}
	if newName != "" {
		base = newName
	}
	switch {
	case digest != "":
		return base + "@" + digest
	case newTag != "":
		return base + ":" + newTag
	case dig != "":
		return base + "@" + dig
	case tag != "":
		return base + ":" + tag
	}
	return base
}

// splitImage splits registry/name:tag@digest into its parts; a ':' before
// the last '/' belongs to a registry port, not a tag.
func splitImage(image string) (name, tag, digest string) {
	name, digest, _ = strings.Cut(image, "@")
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		name, tag = name[:i], name[i+1:]
	}
	return name, tag, digest
}

// kustomizationRoots lists the directories under root holding a
// kustomization.yaml of kind Kustomization (not Component), and the
// Component directories separately.
func kustomizationRoots(root string) (roots, components []string, err error) {
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "kustomization.yaml" {
			return err
		}
		var head struct {
			Kind string `json:"kind"`
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := yaml.Unmarshal(data, &head); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		switch head.Kind {
		case "Kustomization":
			roots = append(roots, filepath.Dir(path))
		case "Component":
			components = append(components, filepath.Dir(path))
		default:
			return fmt.Errorf("%s: kind %q, want Kustomization or Component", path, head.Kind)
		}
		return nil
	})
	if err == nil && len(roots) == 0 {
		err = errors.New("no kustomization found under " + root)
	}
	return roots, components, err
}
