package dns

import (
	"encoding/binary"

	mdns "github.com/miekg/dns"
)

// verdict is what the fast parser makes of a packet.
type verdict uint8

const (
	vOK      verdict = iota
	vDrop            // too short to answer, or a response: never answered
	vSlow            // valid-looking but unusual: the full parser decides
	vFormErr         // malformed
	vNotImp          // an opcode we do not implement
)

// query is what the fast parser reads from a packet. key holds the
// lowercase wire name, then the type and flags: the answer cache's key.
type query struct {
	key     []byte
	nameLen int
	qend    int // end of the question section
	qtype   uint16
	fl      flags
	udpSize int
}

// parse reads a plain query: one question of class IN, no answer or
// authority records, at most an OPT without Client Subnet. Anything else is
// left to the full parser (vSlow). It does not allocate once key has room.
func parse(q []byte, p *query) verdict {
	if len(q) < 12 || q[2]&0x80 != 0 {
		return vDrop
	}
	if (q[2]>>3)&0xF != mdns.OpcodeQuery {
		return vNotImp
	}
	qd, an, ns, ar := be16(q[4:]), be16(q[6:]), be16(q[8:]), be16(q[10:])
	if qd != 1 {
		return vFormErr
	}
	if an != 0 || ns != 0 || ar > 1 {
		return vSlow
	}
	off, v := p.readName(q)
	if v != vOK {
		return v
	}
	if off+4 > len(q) {
		return vFormErr
	}
	p.qtype = be16(q[off:])
	class := be16(q[off+2:])
	off += 4
	p.qend = off
	if class != mdns.ClassINET || p.qtype == 0 || p.qtype == mdns.TypeOPT || p.qtype >= mdns.TypeTKEY && p.qtype != mdns.TypeANY && p.qtype < 256 {
		return vSlow // CH/HS classes, meta types, AXFR, IXFR
	}
	p.fl, p.udpSize = 0, 512
	if ar == 1 {
		if v := p.readOPT(q, off); v != vOK {
			return v
		}
	} else if off != len(q) {
		return vSlow
	}
	p.key = append(p.key, byte(p.qtype>>8), byte(p.qtype), byte(p.fl))
	return vOK
}

// readName copies the question name, lowercased, into p.key.
func (p *query) readName(q []byte) (int, verdict) {
	p.key = p.key[:0]
	off := 12
	for {
		if off >= len(q) {
			return 0, vFormErr
		}
		l := int(q[off])
		if l == 0 {
			p.key = append(p.key, 0)
			p.nameLen = len(p.key)
			return off + 1, vOK
		}
		if l > 63 {
			return 0, vSlow // a compression pointer or an extended label type
		}
		if off+1+l > len(q) || len(p.key)+1+l > 254 {
			return 0, vFormErr
		}
		p.key = append(p.key, byte(l))
		for _, c := range q[off+1 : off+1+l] {
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			p.key = append(p.key, c)
		}
		off += 1 + l
	}
}

// readOPT reads the OPT record at off, which must end the packet.
func (p *query) readOPT(q []byte, off int) verdict {
	if off+11 > len(q) || q[off] != 0 || be16(q[off+1:]) != mdns.TypeOPT {
		return vSlow
	}
	if q[off+6] != 0 { // EDNS version: BADVERS is the full parser's job
		return vSlow
	}
	p.fl |= fEDNS
	if q[off+7]&0x80 != 0 {
		p.fl |= fDO
	}
	p.udpSize = max(int(be16(q[off+3:])), 512)
	rdlen := int(be16(q[off+9:]))
	opts := off + 11
	if opts+rdlen != len(q) {
		return vSlow
	}
	for o := opts; o < opts+rdlen; {
		if o+4 > opts+rdlen {
			return vSlow
		}
		code, l := be16(q[o:]), int(be16(q[o+2:]))
		if code == mdns.EDNS0SUBNET {
			return vSlow
		}
		o += 4 + l
		if o > opts+rdlen {
			return vSlow
		}
	}
	return vOK
}

func be16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }

// errorReply writes a header-only answer with rcode to out, echoing the
// question when qend is past the header.
func errorReply(out, q []byte, qend int, rcode int) []byte {
	out = append(out[:0], q[:12]...)
	out[2] = 0x80 | q[2]&0x79 // QR, keep opcode and RD
	out[3] = byte(rcode & 0xF)
	qd := 0
	if qend > 12 {
		qd = 1
	}
	binary.BigEndian.PutUint16(out[4:], uint16(qd))
	clear(out[6:12])
	return append(out, q[12:max(qend, 12)]...)
}

// truncated writes an empty answer with TC set, so the client retries over
// TCP: the header and question already in out, and an OPT when the query
// had one.
func truncated(out []byte, qend int, fl flags, udpSize int) []byte {
	out = out[:qend]
	out[2] |= 0x02
	clear(out[6:12])
	if fl&fEDNS == 0 {
		return out
	}
	out[11] = 1
	do := byte(0)
	if fl&fDO != 0 {
		do = 0x80
	}
	return append(out, 0, 0, byte(mdns.TypeOPT), byte(udpSize>>8), byte(udpSize), 0, 0, do, 0, 0, 0)
}
