// Package remote makes a chain's actor tree reachable from other processes
// and machines, on protoactor-go's own remote layer (gRPC) and cluster
// providers; microstack adds no distribution protocol of its own.
//
// An agent calls Serve on its running chain: protoactor's remote layer
// starts on the chain's actor system (loopback, free port, by default) and
// a gateway actor (kind "remote.gateway") joins the chain's root. Another
// process calls Dial and reads the agent's tree (Client.Tree), its logs
// (Client.Logs, Client.TailLogs), its store (Client.Get, Put, Delete,
// List), and sends commands to its actors (Client.Request, Client.Send),
// with the same typed messages as inside the process: storemsg.Get,
// logmsg.Query, tcpmsg.Write and so on.
//
// # Serialisation
//
// protoactor's remote layer serializes with protobuf (its JSON serializer,
// too, takes only protobuf messages). microstack's messages are plain Go
// structs, and rewriting them all as protobuf would give two definitions
// of every message. Instead one protobuf envelope (package remotepb)
// carries a type name and the message as JSON (encoding/json). Only the
// types registered as remote-safe cross: the gateway's own messages
// (remotemsg), the log queries, the store's commands (not Backup, Restore
// and Export, which name files on the agent's disk), and the commands a
// TCP connection takes. Types that only make sense inside a process
// (holding PIDs, channels, functions) are not registered, and are refused
// at the boundary with a *NotRemotableError naming the type
// (errors.Is(err, remotemsg.ErrNotRemotable)) on the sending side, before
// anything is sent, and again by the gateway. Register adds a type.
// Errors keep their identity across processes for the registered sentinel
// errors (errors.Is(err, storemsg.ErrNotFound) still works); the rest
// arrive as their text.
//
// A Go struct sent to a remote PID with protoactor's own Send is dropped
// by protoactor's endpoint writer with a log record; use a Client.
//
// # Security
//
// Every remote node serves and dials (protoactor sends answers over a
// connection the answering node opens), so both sides authenticate: TLS
// 1.3 with a certificate on each side. With Security.Secret, a certificate
// authority is derived from the shared secret and each process signs its
// own certificate with it at start; a process without the secret cannot
// complete a handshake, and the gateway's tree entry counts the refused
// ones ("refused"). Security.Certificate and CAs use the operator's own
// certificates instead. Without either, Serve and Dial refuse to start
// unless Security.Insecure says so. Authenticated peers can reach every
// actor of the process through protoactor (including system messages such
// as Stop), which is why the handshake, not the gateway, is the gate; the
// gateway adds ServeOptions.Authorize for finer rules.
//
// # Cluster
//
// With ServeOptions.Cluster, the agent also joins a cluster with
// protoactor's cluster layer and the automanaged provider (no outside
// service: each member serves a small HTTP endpoint and polls the others';
// ClusterOptions.Provider takes consul, etcd or k8s instead). Each agent
// registers the kind AgentKindPrefix+id. A Controller is a cluster client:
// it lists the agents it sees with their health (Controller.List), tells
// an agent lost when it leaves the cluster and found when it comes back,
// and reaches any agent by id (Controller.Agent). ControllerMain is the
// demo's "controller" command.
//
// protoactor's traps, and what this package does about them: Remote.Start
// panics when it cannot listen (an error here); Cluster.Shutdown shuts the
// whole actor system down and sleeps 2 s (not called: Close leaves the
// cluster step by step and keeps the chain's system); graceful gRPC stop
// waits up to 10 s (bounded by ShutdownTimeout, then forced); the endpoint
// writer retries a dead peer 5 times, 2 s apart, holding messages (one
// attempt here, so a request to a lost agent fails at once); the
// automanaged provider binds 0.0.0.0 (bound to ClusterOptions.HealthListen
// here, loopback by default); a member id that left is blocked for good
// (agents are known by their kind, and a restarted agent joins under a new
// member id). Cluster.StartMember still sleeps 1 s.
package remote
