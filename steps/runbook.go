package steps

// Runbook is the procedure, in order. Reading it is reading the runbook;
// each step lives in its own file.
func Runbook() []Step {
	return []Step{
		PreflightStep(),         // preflight.go: read-only, decides values, takes the lock
		stopWithEstimate(),      // stop_apiservers.go, with preflight's revision estimate (bump_at_stop.go)
		RestoreEtcdStep(),       // restore_etcd.go
		RepointApiserversStep(), // repoint_apiservers.go
		StartApiserversStep(),   // start_apiservers.go
		FlushCachesStep(),       // flush_caches.go
		VerifyReportStep(),      // verify.go
	}
}
