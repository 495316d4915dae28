/*
 * SPDX-FileCopyrightText: 2020 Stalwart Labs LLC <hello@stalw.art>
 *
 * SPDX-License-Identifier: Apache-2.0 OR MIT
 */

//! Runs of clean base64 lines, decoded many at a time with SIMD (`base64-simd`): the common
//! case of a MIME body. Anything else stays with the byte-at-a-time decoder, which sets the rules.

/// How much line content one run gathers before it is decoded.
const RUN_BYTES: usize = 64 * 1024;

/// A run of clean lines at the start of a slice: each is 4n characters of the base64 alphabet
/// (checked when decoded) that neither starts with `-` nor ends with `=`, then LF or CRLF.
pub(crate) struct CleanRun {
    /// Bytes of the slice the run takes, up to and including its last line's LF.
    pub consumed: usize,
    /// Where the last line's content ends in the slice (its CR or LF).
    pub content_end: usize,
    /// The byte before the last line's LF: CR, or the line's last character.
    pub before_lf: u8,
    /// The run is one line of at least `RUN_BYTES`, left in place: its content is
    /// `rest[..content_end]`, not copied to the scratch buffer.
    pub in_place: bool,
}

impl CleanRun {
    /// The run's content: the gathered lines, or the one long line where it is.
    pub(crate) fn content<'a>(&self, rest: &'a [u8], scratch: &'a [u8]) -> &'a [u8] {
        if self.in_place {
            &rest[..self.content_end]
        } else {
            scratch
        }
    }
}

/// Gathers the content of the clean lines at the start of `rest` into `scratch` (emptied first);
/// a line of `RUN_BYTES` or more is a run of its own, left in place.
pub(crate) fn gather(rest: &[u8], scratch: &mut Vec<u8>) -> Option<CleanRun> {
    scratch.clear();
    let mut pos = 0;
    let mut run = None;
    while scratch.len() < RUN_BYTES {
        let Some(lf) = memchr::memchr(b'\n', &rest[pos..]).map(|i| pos + i) else {
            break;
        };
        let content_end = if lf > pos && rest[lf - 1] == b'\r' {
            lf - 1
        } else {
            lf
        };
        let line = &rest[pos..content_end];
        match (line.first(), line.last()) {
            (Some(&first), Some(&last)) if line.len() % 4 == 0 && first != b'-' && last != b'=' => {
                let long = line.len() >= RUN_BYTES;
                if long && run.is_some() {
                    // The next run takes it, in place.
                    break;
                }
                if !long {
                    scratch.extend_from_slice(line);
                }
                run = Some(CleanRun {
                    consumed: lf + 1,
                    content_end,
                    before_lf: rest[lf - 1],
                    in_place: long,
                });
                if long {
                    break;
                }
                pos = lf + 1;
            }
            _ => break,
        }
    }
    run
}

/// Decodes a gathered run onto `out`; false (and `out` as it was) when a character is not in
/// the standard alphabet, for the byte-at-a-time decoder to judge.
pub(crate) fn decode_onto(scratch: &[u8], out: &mut Vec<u8>) -> bool {
    let before = out.len();
    if base64_simd::STANDARD.decode_append(scratch, out).is_ok() {
        true
    } else {
        out.truncate(before);
        false
    }
}
