// Package archtest holds tests of the module's structure: which packages
// may import which. It has no code of its own.
package archtest
