package waf

import "levee/internal/config/schema"

type listShim struct{ l schema.List }

func (s *listShim) list() *schema.List { return &s.l }
