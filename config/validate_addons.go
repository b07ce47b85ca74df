package config

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// addons checks verify.addons: each entry a kind `kubectl rollout restart`
// restarts, a namespace and a name as the API accepts them (apimachinery's
// own validators), and no entry twice.
func (v *validator) addons() {
	seen := map[string]int{}
	for i, a := range v.c.Verify.Addons {
		at := fmt.Sprintf("verify.addons[%d]", i)
		if v.d.bad[at] {
			continue
		}
		if !slices.Contains(AddonKinds, a.Kind) {
			v.r.errorf(v.d.where(at+".kind"), "%s.kind: %q cannot be restarted as `kubectl rollout restart` does; use %s",
				at, a.Kind, strings.Join(AddonKinds, ", "))
		}
		if errs := validation.IsDNS1123Label(a.Namespace); len(errs) > 0 {
			v.r.errorf(v.d.where(at+".namespace"), "%s.namespace: %q is not a namespace name: %s; like kube-system", at, a.Namespace, strings.Join(errs, "; "))
		}
		if errs := validation.IsDNS1123Subdomain(a.Name); len(errs) > 0 {
			v.r.errorf(v.d.where(at+".name"), "%s.name: %q is not a %s name: %s; like coredns", at, a.Name, firstNonEmpty(a.Kind, "workload"), strings.Join(errs, "; "))
		}
		key := a.Kind + " " + a.Namespace + "/" + a.Name
		if j, dup := seen[key]; dup {
			v.r.errorf(v.d.where(at), "%s: %s is listed twice (also verify.addons[%d])", at, key, j)
		}
		seen[key] = i
	}
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
