package dns

import (
	"os"
	"time"
)

func getenv(k string) string { return os.Getenv(k) }

func timeNow() time.Time { return time.Now() }
