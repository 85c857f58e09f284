package provisioning

// SetDirectoryMergeMin sets how large a Directory's overlay of recent
// tokens may grow before it is merged, and returns a function restoring it.
// Tests using it must not run in parallel.
func SetDirectoryMergeMin(n int) (restore func()) {
	old := dirMergeMin
	dirMergeMin = n
	return func() { dirMergeMin = old }
}
