package cache

import "net/http"

// IsFill reports whether w is the cache filling an object: the request
// after the cache phase is a miss or a revalidation whose answer the cache
// will store. A phase after the cache (the cluster's upper tier) uses it
// to tell fills from bypasses.
func IsFill(w http.ResponseWriter) bool {
	_, ok := w.(*fill)
	return ok
}
