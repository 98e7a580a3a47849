package webrtc

import pion "github.com/pion/webrtc/v4"

// PionAPI returns the pion API a peer configured by o builds its
// connection with, so that a benchmark's raw pion peers run with exactly
// the actors' settings (detached channels, SCTP message size, loopback).
func PionAPI(o Options) *pion.API { return o.withDefaults().api() }
