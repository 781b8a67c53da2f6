package updates

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"invent.kde.org/kapsule/kapsule/packagekit"
)

// CheckResult is what one check of one container found.
type CheckResult struct {
	Updates  []Update
	Count    uint32
	Security uint32
}

// Progress receives a check's or an apply's progress lines.
type Progress func(status string, percent int)

// CheckContainer refreshes a container's package cache and lists its
// pending updates, with the versions installed now.
func CheckContainer(ctx context.Context, pk *packagekit.Client, progress Progress) (CheckResult, error) {
	opt := packagekit.WithProgress(func(p packagekit.Progress) {
		if progress != nil {
			progress(p.Status.String(), int(p.Percentage))
		}
	})
	if _, err := pk.Run(ctx, packagekit.RefreshCache(false), opt); err != nil {
		return CheckResult{}, fmt.Errorf("refresh the package cache: %w", err)
	}
	res, err := pk.Run(ctx, packagekit.GetUpdates(packagekit.NoFilter), opt)
	if err != nil {
		return CheckResult{}, fmt.Errorf("list updates: %w", err)
	}
	installed := map[string]string{}
	if names := updateNames(res.Packages); len(names) > 0 {
		inst, err := pk.Run(ctx, packagekit.Resolve(packagekit.BitfieldOf(packagekit.FilterInstalled), names))
		if err == nil {
			for _, p := range inst.Packages {
				installed[p.ID.Name()+";"+p.ID.Arch()] = p.ID.Version()
			}
		}
	}
	var out CheckResult
	for _, p := range res.Packages {
		sev := p.Severity
		if sev == packagekit.InfoUnknown {
			sev = p.Info
		}
		u := Update{
			PackageID: string(p.ID),
			Installed: installed[p.ID.Name()+";"+p.ID.Arch()],
			Severity:  sev.String(),
			Summary:   p.Summary,
		}
		if p.Info == packagekit.InfoSecurity || p.Info == packagekit.InfoCritical {
			u.Severity = p.Info.String()
		}
		out.Updates = append(out.Updates, u)
		out.Count++
		if u.Security() {
			out.Security++
		}
	}
	sort.Slice(out.Updates, func(i, j int) bool { return out.Updates[i].PackageID < out.Updates[j].PackageID })
	return out, nil
}

func updateNames(pkgs []packagekit.Package) []string {
	seen := map[string]bool{}
	var names []string
	for _, p := range pkgs {
		if n := p.ID.Name(); n != "" && !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// ApplyContainer installs updates in a container: the given package IDs,
// or all pending ones when ids is empty. It returns the IDs applied.
func ApplyContainer(ctx context.Context, pk *packagekit.Client, ids []string, progress Progress) ([]string, error) {
	opt := packagekit.WithProgress(func(p packagekit.Progress) {
		if progress != nil {
			status := p.Status.String()
			if p.LastPackage != "" {
				status += " " + packagekit.PackageID(p.LastPackage).Name()
			}
			progress(status, int(p.Percentage))
		}
	})
	var pids []packagekit.PackageID
	if len(ids) == 0 {
		res, err := pk.Run(ctx, packagekit.GetUpdates(packagekit.NoFilter))
		if err != nil {
			return nil, fmt.Errorf("list updates: %w", err)
		}
		for _, p := range res.Packages {
			pids = append(pids, p.ID)
		}
	} else {
		for _, id := range ids {
			pid, err := packagekit.ParsePackageID(id)
			if err != nil {
				return nil, fmt.Errorf("package %q: %w", id, err)
			}
			pids = append(pids, pid)
		}
	}
	if len(pids) == 0 {
		return nil, nil
	}
	flags := packagekit.BitfieldOf(packagekit.TransactionFlagOnlyTrusted)
	if _, err := pk.Run(ctx, packagekit.UpdatePackages(flags, pids), opt); err != nil {
		return nil, fmt.Errorf("update %s: %w", describe(pids), err)
	}
	out := make([]string, len(pids))
	for i, p := range pids {
		out[i] = string(p)
	}
	return out, nil
}

func describe(pids []packagekit.PackageID) string {
	if len(pids) > 3 {
		return fmt.Sprintf("%d packages", len(pids))
	}
	var names []string
	for _, p := range pids {
		names = append(names, p.Name())
	}
	return strings.Join(names, ", ")
}
