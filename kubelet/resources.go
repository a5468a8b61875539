package kubelet

import (
	"math"
)

// CPU constants of the kubelet's cgroup manager (pkg/kubelet/cm) and the
// kernel.
const (
	// MinShares and MaxShares bound cpu.shares (kernel limits).
	MinShares = 2
	MaxShares = 262144
	// SharesPerCPU is cpu.shares for one whole CPU.
	SharesPerCPU = 1024
	// QuotaPeriod is the default CFS period in microseconds (100 ms).
	QuotaPeriod = 100000
	// MinQuotaPeriod is the smallest CFS quota in microseconds (1 ms).
	MinQuotaPeriod = 1000
	// MinCPUWeight, MaxCPUWeight and DefaultCPUWeight bound cgroup v2
	// cpu.weight.
	MinCPUWeight     = 1
	MaxCPUWeight     = 10000
	DefaultCPUWeight = 100
)

// MilliCPUToShares converts a CPU request in millicores to cgroup v1
// cpu.shares exactly as the kubelet does: 1024 per CPU, rounded down,
// clamped to [MinShares, MaxShares]; zero (no request) gives MinShares.
func MilliCPUToShares(milliCPU int64) uint64 {
	if milliCPU == 0 {
		return MinShares
	}
	shares := (milliCPU * SharesPerCPU) / 1000
	if shares < MinShares {
		return MinShares
	}
	if shares > MaxShares {
		return MaxShares
	}
	return uint64(shares)
}

// MilliCPUToQuota converts a CPU limit in millicores to a CFS quota in
// microseconds for the given period (QuotaPeriod when period <= 0), as the
// kubelet does: zero (no limit) gives zero (no quota), otherwise the quota is
// at least MinQuotaPeriod.
func MilliCPUToQuota(milliCPU, period int64) int64 {
	if milliCPU == 0 {
		return 0
	}
	if period <= 0 {
		period = QuotaPeriod
	}
	quota := (milliCPU * period) / 1000
	if quota < MinQuotaPeriod {
		quota = MinQuotaPeriod
	}
	return quota
}

// CPUSharesToWeight converts cgroup v1 cpu.shares to cgroup v2 cpu.weight.
//
// The mapping is the one runc (since 1.3.2 / 1.4) and crun use: a quadratic
// in log2(shares) through the three points that matter, (2 → 1),
// (1024 → 100) and (262144 → 10000), rounded up. It was chosen over the
// older linear formula 1+((shares-2)*9999)/262142 because that one maps
// one CPU's worth of shares (1024) to weight 39, far below the v2 default of
// 100, so every Kubernetes container lost out against system processes; with
// this mapping a container requesting one CPU weighs the same as a default
// cgroup. It matches what the runc runtime will itself write for the shares
// in an OCI spec on a cgroup v2 host. Zero (unset) maps to zero.
func CPUSharesToWeight(shares uint64) uint64 {
	if shares == 0 {
		return 0
	}
	if shares <= MinShares {
		return MinCPUWeight
	}
	if shares >= MaxShares {
		return MaxCPUWeight
	}
	l := math.Log2(float64(shares))
	exponent := (l*l+125*l)/612.0 - 7.0/34.0
	return uint64(math.Ceil(math.Pow(10, exponent)))
}

// MilliCPUToWeight is CPUSharesToWeight(MilliCPUToShares(milliCPU)).
func MilliCPUToWeight(milliCPU int64) uint64 {
	return CPUSharesToWeight(MilliCPUToShares(milliCPU))
}
