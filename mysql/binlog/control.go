package binlog

import (
	"fmt"
	"strconv"
)

// Parsers of the small control events. Each takes the body without the
// checksum and fails cleanly on a short or malformed body.

func parseRotate(h EventHeader, body []byte, postLen int) (*RotateEvent, error) {
	if postLen < 8 {
		postLen = 8
	}
	r := reader{b: body}
	ev := &RotateEvent{EventHeader: h, Position: r.u64("rotate position")}
	r.skip(postLen-8, "rotate post-header")
	ev.NextFile = string(r.rest())
	if r.err != nil {
		return nil, r.err
	}
	if ev.NextFile == "" {
		return nil, fmt.Errorf("rotate event names no file")
	}
	return ev, nil
}

// Fields of a HEARTBEAT_V2 (a type byte, a packed length and the value).
const (
	heartbeatEnd      = 0
	heartbeatFile     = 1
	heartbeatPosition = 2
)

func parseHeartbeatV2(h EventHeader, body []byte) (*HeartbeatEvent, error) {
	ev := &HeartbeatEvent{EventHeader: h, Version: 2}
	r := reader{b: body}
	for r.left() > 0 {
		typ := r.u8("heartbeat field")
		if typ == heartbeatEnd {
			break
		}
		v := r.packedBytes("heartbeat field value")
		if r.err != nil {
			return nil, r.err
		}
		switch typ {
		case heartbeatFile:
			ev.File = string(v)
		case heartbeatPosition:
			f := reader{b: v}
			ev.Position = f.packed("heartbeat position")
			if f.err != nil {
				return nil, f.err
			}
		}
	}
	return ev, r.err
}

func parseXAPrepare(h EventHeader, body []byte) (*XAPrepareEvent, error) {
	r := reader{b: body}
	ev := &XAPrepareEvent{EventHeader: h}
	ev.OnePhase = r.u8("one phase") != 0
	ev.FormatID = r.u32("format id")
	gl := r.u32("gtrid length")
	bl := r.u32("bqual length")
	if r.err == nil && (gl > 64 || bl > 64) {
		return nil, fmt.Errorf("xa prepare: gtrid length %d or bqual length %d over 64", gl, bl)
	}
	ev.GTRID = r.bytes(int(gl), "gtrid")
	ev.BQUAL = r.bytes(int(bl), "bqual")
	return ev, r.err
}

func parseIntVar(h EventHeader, body []byte) (*IntVarEvent, error) {
	r := reader{b: body}
	ev := &IntVarEvent{EventHeader: h, VarType: r.u8("intvar type"), Value: r.u64("intvar value")}
	return ev, r.err
}

func parseRand(h EventHeader, body []byte) (*RandEvent, error) {
	r := reader{b: body}
	ev := &RandEvent{EventHeader: h, Seed1: r.u64("rand seed1"), Seed2: r.u64("rand seed2")}
	return ev, r.err
}

func parseUserVar(h EventHeader, body []byte) (*UserVarEvent, error) {
	r := reader{b: body}
	ev := &UserVarEvent{EventHeader: h}
	n := r.u32("user var name length")
	if r.err == nil && int64(n) > int64(r.left()) {
		return nil, fmt.Errorf("user var name of %d bytes: %w", n, errShort)
	}
	ev.Name = string(r.bytes(int(n), "user var name"))
	ev.IsNull = r.u8("user var null flag") != 0
	if ev.IsNull || r.err != nil {
		return ev, r.err
	}
	ev.ValueType = r.u8("user var type")
	ev.Collation = r.u32("user var charset")
	vl := r.u32("user var value length")
	if r.err == nil && int64(vl) > int64(r.left()) {
		return nil, fmt.Errorf("user var value of %d bytes: %w", vl, errShort)
	}
	ev.Value = r.bytes(int(vl), "user var value")
	if r.left() > 0 {
		ev.Flags = r.u8("user var flags")
	}
	return ev, r.err
}

func parseIncident(h EventHeader, body []byte) (*IncidentEvent, error) {
	r := reader{b: body}
	ev := &IncidentEvent{EventHeader: h, Incident: r.u16("incident type")}
	if r.left() > 0 {
		ev.Message = string(r.bytes(int(r.u8("incident message length")), "incident message"))
	}
	return ev, r.err
}

func parseBinlogCheckpoint(h EventHeader, body []byte) (*BinlogCheckpointEvent, error) {
	r := reader{b: body}
	n := r.u32("checkpoint file length")
	if r.err == nil && int64(n) > int64(r.left()) {
		return nil, fmt.Errorf("checkpoint file name of %d bytes: %w", n, errShort)
	}
	ev := &BinlogCheckpointEvent{EventHeader: h, File: string(r.bytes(int(n), "checkpoint file"))}
	return ev, r.err
}

func itoa(i int64) string  { return strconv.FormatInt(i, 10) }
func utoa(u uint64) string { return strconv.FormatUint(u, 10) }
