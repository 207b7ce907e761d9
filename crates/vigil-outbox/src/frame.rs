//! Records on disk: `[length: u32 LE][CRC-32C: u32 LE][payload]`, the checksum taken over the
//! length's four bytes and the payload. A record cut short by a crash, or damaged, reads as
//! such and is never taken for another record.

/// Bytes before the payload.
pub const HEADER: usize = 8;
/// The largest payload accepted: a report is a few hundred bytes, so anything near this is
/// damage, not data.
pub const MAX_PAYLOAD: usize = 1 << 20;

const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// What the bytes at some offset hold.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A whole record: its payload, and its length on disk (header included).
    Record { payload: &'a [u8], size: usize },
    /// Fewer bytes than the record needs: still being written, or torn by a crash.
    Incomplete,
    /// Bytes that are no record: a length out of range or a checksum that does not match.
    Corrupt(Corruption),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Corruption {
    Length(u32),
    Checksum,
}

impl std::fmt::Display for Corruption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Corruption::Length(n) => write!(f, "a record length of {n} bytes"),
            Corruption::Checksum => f.write_str("a checksum mismatch"),
        }
    }
}

/// The record of `payload`, ready to be written with one `write`. Callers keep payloads
/// within [`MAX_PAYLOAD`].
pub fn encode(payload: &[u8]) -> Vec<u8> {
    debug_assert!(!payload.is_empty() && payload.len() <= MAX_PAYLOAD);
    let len = (payload.len() as u32).to_le_bytes();
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(&len);
    out.extend_from_slice(&checksum(&len, payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// Reads the record at the start of `bytes`.
pub fn decode(bytes: &[u8]) -> Frame<'_> {
    let Some(header) = bytes.get(..HEADER) else {
        return Frame::Incomplete;
    };
    let len_bytes: [u8; 4] = header[..4].try_into().expect("4 bytes");
    let len = u32::from_le_bytes(len_bytes);
    // Zero is refused too: a run of zero bytes (a hole, a zeroed block) is no record.
    if len == 0 || len as usize > MAX_PAYLOAD {
        return Frame::Corrupt(Corruption::Length(len));
    }
    let stored = u32::from_le_bytes(header[4..].try_into().expect("4 bytes"));
    let size = HEADER + len as usize;
    let Some(payload) = bytes.get(HEADER..size) else {
        return Frame::Incomplete;
    };
    if checksum(&len_bytes, payload) != stored {
        return Frame::Corrupt(Corruption::Checksum);
    }
    Frame::Record { payload, size }
}

fn checksum(len: &[u8; 4], payload: &[u8]) -> u32 {
    let mut digest = CRC.digest();
    digest.update(len);
    digest.update(payload);
    digest.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(payload: &[u8]) -> Frame<'_> {
        Frame::Record {
            payload,
            size: HEADER + payload.len(),
        }
    }

    #[test]
    fn whole_torn_and_damaged_records() {
        let one = encode(b"{\"a\":1}");
        let two = encode(b"second");
        let both = [one.clone(), two.clone()].concat();
        let mut flipped = one.clone();
        flipped[HEADER + 2] ^= 0x01;
        let mut bad_crc = one.clone();
        bad_crc[5] ^= 0x80;
        let mut longer = one.clone();
        longer[0] += 1; // the length now takes a byte of the next record, the CRC disagrees
        let huge = [&(MAX_PAYLOAD as u32 + 1).to_le_bytes()[..], &[0; 8]].concat();

        let cases: Vec<(&str, Vec<u8>, Frame)> = vec![
            ("a record", one.clone(), record(b"{\"a\":1}")),
            ("the first of two", both.clone(), record(b"{\"a\":1}")),
            (
                "the second of two",
                both[one.len()..].to_vec(),
                record(b"second"),
            ),
            ("nothing", vec![], Frame::Incomplete),
            ("half a header", one[..3].to_vec(), Frame::Incomplete),
            ("a header alone", one[..HEADER].to_vec(), Frame::Incomplete),
            (
                "all but one byte",
                one[..one.len() - 1].to_vec(),
                Frame::Incomplete,
            ),
            ("zeroes", vec![0; 64], Frame::Corrupt(Corruption::Length(0))),
            (
                "a bit flipped in the payload",
                flipped,
                Frame::Corrupt(Corruption::Checksum),
            ),
            (
                "a bit flipped in the checksum",
                bad_crc,
                Frame::Corrupt(Corruption::Checksum),
            ),
            (
                "a longer length",
                [longer, two].concat(),
                Frame::Corrupt(Corruption::Checksum),
            ),
            (
                "a length past the limit",
                huge,
                Frame::Corrupt(Corruption::Length(MAX_PAYLOAD as u32 + 1)),
            ),
        ];
        for (what, bytes, expected) in cases {
            assert_eq!(decode(&bytes), expected, "{what}");
        }
    }

    /// Every prefix of a record short of the whole is incomplete, never a record.
    #[test]
    fn every_cut_of_a_record_is_incomplete() {
        let bytes = encode(&[7u8; 300]);
        for cut in 0..bytes.len() {
            assert_eq!(decode(&bytes[..cut]), Frame::Incomplete, "cut at {cut}");
        }
        assert!(matches!(decode(&bytes), Frame::Record { size, .. } if size == bytes.len()));
    }
}
