// Package netiftest builds throw-away Linux network namespaces for the
// tests of the actors that touch interfaces and multicast (netif, udp,
// discovery), so that they never send on the host's own links.
//
// A test calls Require (which skips when not root and fails when the ip
// tool is missing: tests/setup.sh installs iproute2), creates namespaces
// and veth pairs with names that include the process id, and runs a role
// inside a namespace by re-executing the test binary there with
// "ip netns exec": the child runs the test function named by the parent
// with RoleEnv set, prints its observations as EVENT lines, and is
// stopped by its PID when the test ends. Everything created is deleted in
// t.Cleanup.
//
// On systems other than Linux the package is empty.
package netiftest
