package waf

import (
	"net/url"
	"testing"
)

// ordinaryRequests is a corpus of ordinary traffic a shop, a blog and an
// API see: forms, JSON, search queries with quotes and symbols.
func ordinaryRequests() map[string]*snapshot {
	q := func(path string, kv ...string) *snapshot {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return get(path + "?" + v.Encode())
	}
	form := func(path string, kv ...string) *snapshot {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return post(path, "application/x-www-form-urlencoded", v.Encode())
	}
	return map[string]*snapshot{
		"home":                 get("/"),
		"static asset":         get("/static/app.3f9a1c.js"),
		"product page":         get("/products/blue-widget-42"),
		"category paging":      q("/c/shoes", "page", "3", "sort", "price_asc", "size", "42"),
		"search plain":         q("/search", "q", "running shoes"),
		"search with quote":    q("/search", "q", "O'Reilly books"),
		"search double quotes": q("/search", "q", `"exact phrase" match`),
		"search symbols":       q("/search", "q", "C++ & C# (2nd edition)"),
		"search percent":       q("/search", "q", "50% off sale!"),
		"search email":         q("/search", "q", "alice@example.com"),
		"search math":          q("/search", "q", "3 + 4 = 7"),
		"search hyphen words":  q("/search", "q", "t-shirt well-known"),
		"search accents":       q("/search", "q", "crème brûlée à la française"),
		"search question":      q("/search", "q", "what is the best way to select a laptop?"),
		"tracking params":      q("/landing", "utm_source", "newsletter", "utm_medium", "email", "utm_campaign", "winter_sale_2026"),
		"oauth callback":       q("/oauth/callback", "code", "4/0AX4XfWh-kq8_Zr3", "state", "af0ifjsldkj"),
		"date range":           q("/reports", "from", "2026-01-01", "to", "2026-12-31"),
		"login form":           form("/login", "username", "alice", "password", "correct horse battery staple"),
		"signup form":          form("/signup", "name", "Bob O'Connor", "email", "bob@example.org", "password", "Tr0ub4dor&3"),
		"contact form":         form("/contact", "name", "Carol", "message", "Hello! I'd like to know whether you ship to Norway. Thanks, Carol."),
		"comment with link":    form("/comments", "body", "Great post, see also https://example.org/docs for details."),
		"address form":         form("/checkout/address", "street", "12 Rue de l'Église", "city", "Saint-Étienne", "zip", "42000"),
		"newsletter":           form("/newsletter", "email", "dave+news@example.net"),
		"profile bio":          form("/profile", "bio", "I like cats, coffee & long walks; also: hiking (sometimes)."),
		"coupon":               form("/cart/coupon", "code", "SAVE-20"),
		"json order":           post("/api/orders", "application/json", `{"items":[{"sku":"W-42","qty":2}],"note":"Leave at the door, please"}`),
		"json profile":         post("/api/profile", "application/json", `{"name":"Eve","age":31,"tags":["a","b"],"active":true}`),
		"json search":          post("/api/search", "application/json", `{"query":"red shoes","filters":{"size":[41,42],"price":{"max":99.5}}}`),
		"json comment quotes":  post("/api/comments", "application/json", `{"text":"He said \"it's fine\" and left."}`),
		"json nested":          post("/api/v2/events", "application/json", `{"type":"click","target":{"id":"buy-button","x":120,"y":40},"ts":1733460000}`),
		"graphql":              post("/graphql", "application/json", `{"query":"query { product(id: 42) { name price } }"}`),
		"api get with filter":  q("/api/v1/items", "filter", "status:active", "limit", "50"),
		"api get ids":          q("/api/v1/items", "ids", "1,2,3,4"),
		"feed":                 get("/feed.xml"),
		"robots":               get("/robots.txt"),
		"well-known":           get("/.well-known/security.txt"),
		"image resize":         q("/img/cat.jpg", "w", "640", "h", "480", "fit", "cover"),
		"language switch":      q("/", "lang", "de-DE"),
		"pagination cursor":    q("/api/v1/feed", "cursor", "eyJpZCI6MTIzfQ"),
		"markdown comment":     form("/comments", "body", "**bold** and _italic_, a list:\n- one\n- two"),
	}
}

// TestFalsePositiveRate measures the CRS at paranoia 1 on the ordinary
// corpus and reports the rate; every blocked request is listed. The bar
// is 0: a shop's ordinary traffic must pass.
func TestFalsePositiveRate(t *testing.T) {
	e := paranoia1(t)
	corpus := ordinaryRequests()
	blocked := 0
	for name, s := range corpus {
		v := e.inspect(s)
		if v.err != nil || v.block {
			blocked++
			t.Errorf("false positive: %s blocked (err %v, rules %v)", name, v.err, v.ids)
		}
	}
	t.Logf("false-positive rate at paranoia 1: %d of %d (%.1f%%)", blocked, len(corpus), 100*float64(blocked)/float64(len(corpus)))
}
