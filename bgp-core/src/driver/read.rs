//! DOC: how much a driver reads from a connection at a time. A connection starts with
//! [`READ_MIN`]-octet reads (an idle session gets a KEEPALIVE now and then, and 100 idle
//! sessions must not pin 100 × 64 KiB) and doubles the size while reads fill the buffer (a
//! table transfer), halving it again when they do not, up to [`READ_CHUNK`].

/// Largest read.
pub const READ_CHUNK: usize = 64 * 1024;

/// Smallest read.
pub const READ_MIN: usize = 4 * 1024;

/// The size of a connection's next read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadSize(usize);

impl Default for ReadSize {
    fn default() -> Self {
        ReadSize(READ_MIN)
    }
}

impl ReadSize {
    /// The size of the next read.
    pub fn get(self) -> usize {
        self.0
    }

    /// A read of `got` octets into a buffer of [`ReadSize::get`] octets happened.
    pub fn read(&mut self, got: usize) {
        let size = self.0;
        self.0 = if got >= size {
            (size * 2).min(READ_CHUNK)
        } else if got < size / 4 {
            (size / 2).max(READ_MIN)
        } else {
            size
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_size_grows_under_load_and_shrinks_when_idle() {
        // Full reads double up to the maximum.
        let mut s = ReadSize::default();
        let mut steps = 0;
        while s.get() < READ_CHUNK {
            s.read(s.get());
            steps += 1;
        }
        assert_eq!((s.get(), steps), (READ_CHUNK, 4));
        s.read(READ_CHUNK);
        assert_eq!(s.get(), READ_CHUNK);
        // A half-full read keeps the size; KEEPALIVEs shrink it back to the minimum.
        s.read(READ_CHUNK / 2);
        assert_eq!(s.get(), READ_CHUNK);
        for _ in 0..8 {
            s.read(19);
        }
        assert_eq!(s.get(), READ_MIN);
    }
}
