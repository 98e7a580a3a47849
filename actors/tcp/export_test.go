package tcp

// CrashConnection is a message that makes a connection actor panic, as a
// bug would: its stream event names no stream.
func CrashConnection() any { return &dataIn{} }

// CrashListener is a message that makes a listener actor panic.
func CrashListener() any { return &acceptedIn{} }
