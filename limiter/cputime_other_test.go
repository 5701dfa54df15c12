//go:build !unix

package limiter

func processCPU() int64 { return 0 }
