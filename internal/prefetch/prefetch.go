// Package prefetch asks the CPU to load a cache line ahead of use. The
// user table (datasets) and the per-user bounding state (dp) are probed at
// random, one cache miss per user at millions of users; a load of the next
// slot would hold up the loop behind it, a prefetch does not, so the misses
// of several users overlap.
package prefetch
