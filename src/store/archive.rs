//! Sealed backup files: one file per backup, encrypted and authenticated as
//! a whole, holding either every page of the store's two files (a full
//! backup) or only the pages that changed since a named parent (an
//! increment).
//!
//! # Layout
//!
//! ```text
//! header: "CUSTBKUP" ‖ format (u32) ‖ manifest length (u32) ‖ manifest (JSON) ‖ header tag (32)
//! body:   chunk*, each: length (u32) ‖ AES-256-GCM ciphertext ‖ tag
//! ```
//!
//! The manifest is readable without the key (store id, kind, parent, time,
//! sizes, the master-key generation it needs, the KDF salt and the root
//! secret wrapped under that master key) and authenticated by the header
//! tag, an HMAC under a key of this backup. The body is cut into chunks of
//! at most [`CHUNK`] bytes, each sealed with a key of this backup, a nonce
//! made of the chunk's number and a final-chunk flag, and the header's
//! SHA-256 as associated data (the STREAM construction of Hoang, Reyhanitabar,
//! Rogaway and Vizár): a chunk altered, moved, taken from another backup or
//! cut off fails, and a missing final chunk is a truncation.
//!
//! # Keys
//!
//! Every key of a backup derives (HKDF-SHA256) from the store's root
//! secret, which a master-key rotation only rewraps, with the backup's
//! random id: the store can read its own older backups (an increment reads
//! its parent's page digests) across rotations, and a host holding any
//! master key the chain was made under can open it (the manifest carries
//! the root wrapped under it).
//!
//! # Body
//!
//! ```text
//! part count (u8)
//! per part: page size (u32) ‖ page count (u64)
//! per part: one keyed digest (16 bytes) per page of the file as it is at this backup
//! per part: stored page count (u64), then per stored page: page number (u64) ‖ page
//! ```
//!
//! Increments compare the keyed digests of the new snapshot's pages with the
//! parent's table and store the pages that differ; a restore applies the
//! links in order and checks every page of the result against the last
//! link's table, so the reconstruction is exactly the snapshot.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use ring::aead::{Aad, LessSafeKey, NONCE_LEN, Nonce};
use ring::{digest, hmac};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::audit::{hex, hex_decode};
use crate::crypto::{KdfParams, KeySource, KeyWrapper, MasterKey, Secret, aead_key, random_bytes};
use crate::error::{BackupProblem, Error, Result};
use crate::storage::{DATA_FILE, KEYS_FILE};

const MAGIC: &[u8; 8] = b"CUSTBKUP";
/// The backup format this library writes and reads.
pub const BACKUP_FORMAT: u32 = 1;
/// The largest plaintext chunk of a backup body.
const CHUNK: usize = 1 << 20;
const TAG_LEN: usize = 16;
const DIGEST_LEN: usize = 16;
const HEADER_TAG_LEN: usize = 32;
/// The largest manifest a reader accepts (a manifest is a few hundred bytes).
const MAX_MANIFEST: u32 = 64 * 1024;
/// The two files of a store, in the order a backup holds them.
const PARTS: [&str; 2] = [DATA_FILE, KEYS_FILE];

/// Whether a backup holds the whole store or what changed since its parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupKind {
    /// Every page of both files.
    Full,
    /// The pages that changed since the parent.
    Increment,
}

/// The backup an increment is over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupParent {
    /// The parent's backup id.
    pub backup_id: String,
    /// SHA-256 of the parent's header (which every chunk of the parent is bound to).
    pub header_digest: String,
}

/// One file of the store as a backup holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupPart {
    /// The store file (`customers.db` or `keys.db`).
    pub file: String,
    /// Its size at the backup, in bytes.
    pub bytes: u64,
    /// Its page size.
    pub page_size: u32,
    /// Its pages at the backup.
    pub pages: u64,
    /// The pages this backup stores (all of them in a full backup).
    pub stored_pages: u64,
}

/// What a backup file is, readable without the key from its header (and
/// authenticated when the backup is opened with the key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BackupManifest {
    /// The backup format ([`BACKUP_FORMAT`]).
    pub format: u32,
    /// The store it is a backup of.
    pub store_id: String,
    /// This backup's random id.
    pub backup_id: String,
    /// Full, or an increment over `parent`.
    pub kind: BackupKind,
    /// The backup an increment is over.
    pub parent: Option<BackupParent>,
    /// When the snapshot was taken (Unix milliseconds).
    pub taken_at: i64,
    /// The store's two files.
    pub parts: Vec<BackupPart>,
    /// The master-key generation the backup was made under (1 at creation,
    /// one more at each rotation): the key needed to open it.
    pub key_generation: u64,
    /// The KDF parameters of that master key, when it came from a passphrase.
    kdf: Option<KdfParams>,
    /// The root secret wrapped under that master key.
    wrapped_root: String,
}

impl BackupManifest {
    /// Whether the master key it needs comes from a passphrase.
    pub fn needs_passphrase(&self) -> bool {
        self.kdf.is_some()
    }

    /// Bytes of store pages this backup holds.
    pub fn stored_bytes(&self) -> u64 {
        self.parts.iter().map(|p| p.stored_pages * u64::from(p.page_size)).sum()
    }
}

/// The page digests of each file at one backup.
pub(crate) struct Tables(Vec<PartTable>);

struct PartTable {
    page_size: u32,
    digests: Vec<[u8; DIGEST_LEN]>,
}

/// The key facts a new backup records about the master key.
pub(crate) struct KeyRecord {
    pub(crate) generation: u64,
    pub(crate) kdf: Option<KdfParams>,
    pub(crate) wrapped_root: Vec<u8>,
}

fn problem(path: &Path, problem: BackupProblem) -> Error {
    Error::Backup { path: path.display().to_string(), problem }
}

fn io_error(path: &Path, what: &str, e: std::io::Error) -> Error {
    Error::storage_caused(format!("cannot {what} {}", path.display()), e)
}

/// The backup secret's key for one purpose of one backup.
fn backup_key(secret: &Secret, purpose: &str, backup_id: &str) -> Result<Secret> {
    secret.derive(format!("custodian/v1/backup-{purpose}\0{backup_id}").as_bytes())
}

fn digest_key(secret: &Secret) -> Result<hmac::Key> {
    Ok(hmac::Key::new(hmac::HMAC_SHA256, secret.derive(b"custodian/v1/backup-page-digest")?.bytes()))
}

fn page_digest(key: &hmac::Key, part: usize, page_no: u64, page: &[u8]) -> [u8; DIGEST_LEN] {
    let mut ctx = hmac::Context::with_key(key);
    ctx.update(&[part as u8]);
    ctx.update(&page_no.to_be_bytes());
    ctx.update(page);
    ctx.sign().as_ref()[..DIGEST_LEN].try_into().expect("HMAC-SHA256 is 32 bytes")
}

/// The header bytes before the tag.
fn header_bytes(manifest: &BackupManifest) -> Vec<u8> {
    let json = serde_json::to_vec(manifest).expect("a manifest serialises");
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&BACKUP_FORMAT.to_be_bytes());
    out.extend_from_slice(&(json.len() as u32).to_be_bytes());
    out.extend_from_slice(&json);
    out
}

/// A backup file's header, read without the key.
pub(crate) struct Header {
    pub(crate) manifest: BackupManifest,
    signed: Vec<u8>,
    tag: Vec<u8>,
    /// SHA-256 of the whole header: every chunk's associated data.
    digest: [u8; 32],
}

impl Header {
    pub(crate) fn digest_hex(&self) -> String {
        hex(&self.digest)
    }

    /// Checks the header tag with the backup secret.
    fn authenticate(&self, path: &Path, secret: &Secret) -> Result<()> {
        let key = backup_key(secret, "header", &self.manifest.backup_id)?;
        hmac::verify(&hmac::Key::new(hmac::HMAC_SHA256, key.bytes()), &self.signed, &self.tag).map_err(|_| {
            problem(path, BackupProblem::Altered("its manifest fails authentication (it was edited)".into()))
        })
    }
}

fn read_full(file: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// Reads the header of the backup at `path`; the reader is left at the body.
pub(crate) fn read_header(path: &Path) -> Result<(Header, BufReader<File>)> {
    let file = File::open(path).map_err(|e| io_error(path, "open", e))?;
    let mut file = BufReader::new(file);
    let mut fixed = [0u8; 16];
    let got = read_full(&mut file, &mut fixed).map_err(|e| io_error(path, "read", e))?;
    if got < MAGIC.len() || &fixed[..MAGIC.len()] != MAGIC {
        return Err(problem(path, BackupProblem::NotABackup("it does not begin with a backup header".into())));
    }
    if got < fixed.len() {
        return Err(problem(path, BackupProblem::Truncated("it ends inside its header".into())));
    }
    let format = u32::from_be_bytes(fixed[8..12].try_into().expect("4 bytes"));
    if format != BACKUP_FORMAT {
        return Err(problem(
            path,
            BackupProblem::NotABackup(format!("backup format {format}; this library reads format {BACKUP_FORMAT}")),
        ));
    }
    let len = u32::from_be_bytes(fixed[12..16].try_into().expect("4 bytes"));
    if len > MAX_MANIFEST {
        return Err(problem(path, BackupProblem::Altered(format!("its manifest claims {len} bytes"))));
    }
    let mut json = vec![0u8; len as usize];
    let mut tag = vec![0u8; HEADER_TAG_LEN];
    if read_full(&mut file, &mut json).map_err(|e| io_error(path, "read", e))? < json.len()
        || read_full(&mut file, &mut tag).map_err(|e| io_error(path, "read", e))? < tag.len()
    {
        return Err(problem(path, BackupProblem::Truncated("it ends inside its header".into())));
    }
    let manifest: BackupManifest = serde_json::from_slice(&json)
        .map_err(|e| problem(path, BackupProblem::Altered(format!("its manifest is not a valid manifest ({e})"))))?;
    let mut signed = fixed.to_vec();
    signed.extend_from_slice(&json);
    let mut whole = digest::Context::new(&digest::SHA256);
    whole.update(&signed);
    whole.update(&tag);
    let digest = whole.finish().as_ref().try_into().expect("SHA-256 is 32 bytes");
    Ok((Header { manifest, signed, tag, digest }, file))
}

/// The backup secret a chain was made with, from a master key that opens
/// any of its links (the root secret is the same in every link).
pub(crate) fn secret_from_key(links: &[(PathBuf, Header)], key: &KeySource) -> Result<Secret> {
    let mut refusal = None;
    for (path, header) in links {
        let manifest = &header.manifest;
        let derived;
        let master = match (key, &manifest.kdf) {
            (KeySource::Key(master), _) => master,
            (KeySource::Passphrase(passphrase), Some(params)) => {
                derived = MasterKey::from_passphrase(passphrase, params)?;
                &derived
            }
            (KeySource::Passphrase(_), None) => {
                refusal.get_or_insert_with(|| {
                    wrong_key(path, manifest, " with a raw master key, not a passphrase".to_string())
                });
                continue;
            }
        };
        let wrapped = hex_decode(&manifest.wrapped_root).map_err(|_| {
            problem(path, BackupProblem::Altered("its manifest's wrapped root secret is not hexadecimal".into()))
        })?;
        match KeyWrapper::new(master)?.unwrap_root(&manifest.store_id, &wrapped) {
            Ok(root) => return root.derive(b"custodian/v1/backup"),
            Err(_) => {
                refusal.get_or_insert_with(|| wrong_key(path, manifest, String::new()));
            }
        }
    }
    Err(refusal.unwrap_or_else(|| Error::out_of_range("backups", "backup_chain_empty", "no backup file was given")))
}

fn wrong_key(path: &Path, manifest: &BackupManifest, hint: String) -> Error {
    problem(path, BackupProblem::WrongKey { generation: manifest.key_generation, hint })
}

/// The store's backup secret, from its root secret.
pub(crate) fn secret_from_root(root: &Secret) -> Result<Secret> {
    root.derive(b"custodian/v1/backup")
}

fn nonce(counter: u64, last: bool) -> Nonce {
    let mut bytes = [0u8; NONCE_LEN];
    bytes[..8].copy_from_slice(&counter.to_be_bytes());
    bytes[NONCE_LEN - 1] = u8::from(last);
    Nonce::assume_unique_for_key(bytes)
}

/// Writes a body as sealed chunks.
struct Sealer<W: Write> {
    out: W,
    key: LessSafeKey,
    aad: [u8; 32],
    buffer: Zeroizing<Vec<u8>>,
    counter: u64,
}

impl<W: Write> Sealer<W> {
    fn write(&mut self, mut data: &[u8]) -> Result<()> {
        while !data.is_empty() {
            if self.buffer.len() == CHUNK {
                self.seal(false)?;
            }
            let take = data.len().min(CHUNK - self.buffer.len());
            self.buffer.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        Ok(())
    }

    fn seal(&mut self, last: bool) -> Result<()> {
        let mut chunk = Zeroizing::new(std::mem::take(&mut *self.buffer));
        self.key
            .seal_in_place_append_tag(nonce(self.counter, last), Aad::from(self.aad), &mut *chunk)
            .map_err(|_| Error::Crypto("AES-GCM seal failed"))?;
        self.out
            .write_all(&(chunk.len() as u32).to_be_bytes())
            .map_err(|e| Error::storage_caused("cannot write the backup", e))?;
        self.out.write_all(&chunk).map_err(|e| Error::storage_caused("cannot write the backup", e))?;
        self.counter += 1;
        self.buffer.reserve(CHUNK);
        Ok(())
    }

    fn finish(mut self) -> Result<W> {
        self.seal(true)?;
        Ok(self.out)
    }
}

/// Reads a sealed body chunk by chunk.
struct Unsealer<'p> {
    path: &'p Path,
    input: BufReader<File>,
    key: LessSafeKey,
    aad: [u8; 32],
    chunk: Zeroizing<Vec<u8>>,
    at: usize,
    counter: u64,
    ended: bool,
}

impl<'p> Unsealer<'p> {
    fn new(path: &'p Path, header: &Header, input: BufReader<File>, secret: &Secret) -> Result<Self> {
        let key = aead_key(backup_key(secret, "seal", &header.manifest.backup_id)?.bytes());
        Ok(Unsealer {
            path,
            input,
            key,
            aad: header.digest,
            chunk: Zeroizing::new(Vec::new()),
            at: 0,
            counter: 0,
            ended: false,
        })
    }

    fn next_chunk(&mut self) -> Result<()> {
        let path = self.path;
        if self.ended {
            return Err(problem(path, BackupProblem::Altered("its body ends before its declared content".into())));
        }
        let mut len = [0u8; 4];
        let got = read_full(&mut self.input, &mut len).map_err(|e| io_error(path, "read", e))?;
        if got < len.len() {
            return Err(problem(
                path,
                BackupProblem::Truncated(format!("it ends after chunk {} without its final chunk", self.counter)),
            ));
        }
        let len = u32::from_be_bytes(len) as usize;
        if !(TAG_LEN..=CHUNK + TAG_LEN).contains(&len) {
            return Err(problem(path, BackupProblem::Altered(format!("chunk {} claims {len} bytes", self.counter))));
        }
        let mut sealed = Zeroizing::new(vec![0u8; len]);
        if read_full(&mut self.input, &mut sealed).map_err(|e| io_error(path, "read", e))? < len {
            return Err(problem(path, BackupProblem::Truncated(format!("it ends inside chunk {}", self.counter))));
        }
        for last in [false, true] {
            let mut attempt = sealed.clone();
            if let Ok(plain) = self.key.open_in_place(nonce(self.counter, last), Aad::from(self.aad), &mut attempt) {
                let n = plain.len();
                attempt.truncate(n);
                self.chunk = attempt;
                self.at = 0;
                self.counter += 1;
                self.ended = last;
                return Ok(());
            }
        }
        Err(problem(
            path,
            BackupProblem::Altered(format!(
                "chunk {} fails authentication (changed, moved, or from another backup)",
                self.counter
            )),
        ))
    }

    fn read(&mut self, mut out: &mut [u8]) -> Result<()> {
        while !out.is_empty() {
            if self.at == self.chunk.len() {
                self.next_chunk()?;
            }
            let take = out.len().min(self.chunk.len() - self.at);
            out[..take].copy_from_slice(&self.chunk[self.at..self.at + take]);
            self.at += take;
            out = &mut out[take..];
        }
        Ok(())
    }

    fn u8(&mut self) -> Result<u8> {
        let mut b = [0u8; 1];
        self.read(&mut b)?;
        Ok(b[0])
    }

    fn u32(&mut self) -> Result<u32> {
        let mut b = [0u8; 4];
        self.read(&mut b)?;
        Ok(u32::from_be_bytes(b))
    }

    fn u64(&mut self) -> Result<u64> {
        let mut b = [0u8; 8];
        self.read(&mut b)?;
        Ok(u64::from_be_bytes(b))
    }

    /// The body must end exactly here: at the end of its final chunk, and of the file.
    fn finish(mut self) -> Result<()> {
        let path = self.path;
        if self.at == self.chunk.len() && !self.ended {
            // Content ended at a chunk boundary: the final chunk is empty.
            self.next_chunk()?;
        }
        if self.at != self.chunk.len() || !self.ended {
            return Err(problem(path, BackupProblem::Altered("its body holds more than it declares".into())));
        }
        let mut extra = [0u8; 1];
        if read_full(&mut self.input, &mut extra).map_err(|e| io_error(path, "read", e))? > 0 {
            return Err(problem(path, BackupProblem::Altered("bytes follow its final chunk".into())));
        }
        Ok(())
    }

    /// Reads the part sizes and page tables at the start of a body.
    fn tables(&mut self) -> Result<Tables> {
        let path = self.path;
        let count = self.u8()? as usize;
        if count != PARTS.len() {
            return Err(problem(path, BackupProblem::Altered(format!("its body holds {count} files, not 2"))));
        }
        let mut sizes = Vec::new();
        for _ in 0..count {
            sizes.push((self.u32()?, self.u64()?));
        }
        let mut parts = Vec::new();
        for (page_size, pages) in sizes {
            if !(512..=65536).contains(&page_size) || pages > (1 << 40) / u64::from(page_size) {
                return Err(problem(path, BackupProblem::Altered("its body declares impossible page sizes".into())));
            }
            let mut digests = vec![[0u8; DIGEST_LEN]; pages as usize];
            for d in &mut digests {
                self.read(d)?;
            }
            parts.push(PartTable { page_size, digests });
        }
        Ok(Tables(parts))
    }
}

/// The page size of the SQLite file `path` (header offset 16).
fn page_size(path: &Path, len: u64) -> Result<u32> {
    let mut header = [0u8; 18];
    let mut file = File::open(path).map_err(|e| io_error(path, "open", e))?;
    file.read_exact(&mut header).map_err(|e| io_error(path, "read", e))?;
    let size = match u16::from_be_bytes([header[16], header[17]]) {
        1 => 65536,
        n => u32::from(n),
    };
    if !size.is_power_of_two() || !(512..=65536).contains(&size) || len % u64::from(size) != 0 {
        return Err(Error::corrupt(format!("{} is not a whole number of SQLite pages", path.display())));
    }
    Ok(size)
}

/// Calls `each` with every page of `path`.
fn for_each_page(path: &Path, page_size: u32, mut each: impl FnMut(u64, &[u8]) -> Result<()>) -> Result<()> {
    let mut file = BufReader::with_capacity(CHUNK, File::open(path).map_err(|e| io_error(path, "open", e))?);
    let mut page = Zeroizing::new(vec![0u8; page_size as usize]);
    let mut page_no = 0;
    loop {
        match read_full(&mut file, &mut page).map_err(|e| io_error(path, "read", e))? {
            0 => return Ok(()),
            n if n == page.len() => each(page_no, &page)?,
            _ => return Err(Error::corrupt(format!("{} ends inside a page", path.display()))),
        }
        page_no += 1;
    }
}

/// The page tables of the snapshot in `dir`.
fn snapshot_tables(dir: &Path, secret: &Secret) -> Result<Tables> {
    let key = digest_key(secret)?;
    let mut parts = Vec::new();
    for (part, file) in PARTS.iter().enumerate() {
        let path = dir.join(file);
        let len = std::fs::metadata(&path).map_err(|e| io_error(&path, "read", e))?.len();
        let page_size = page_size(&path, len)?;
        let mut digests = Vec::with_capacity((len / u64::from(page_size)) as usize);
        for_each_page(&path, page_size, |no, page| {
            digests.push(page_digest(&key, part, no, page));
            Ok(())
        })?;
        parts.push(PartTable { page_size, digests });
    }
    Ok(Tables(parts))
}

/// What a new backup is.
pub(crate) struct NewBackup<'a> {
    pub(crate) store_id: &'a str,
    pub(crate) taken_at: i64,
    pub(crate) key: KeyRecord,
    /// For an increment: the parent's header and page tables.
    pub(crate) parent: Option<(&'a Header, &'a Tables)>,
}

/// Seals the snapshot in `snapshot` (the store's two files) into the new
/// file `dest`: every page, or for an increment those that differ from the
/// parent's. Written beside `dest` and renamed into place when complete.
pub(crate) fn write_backup(
    secret: &Secret,
    snapshot: &Path,
    dest: &Path,
    new: NewBackup<'_>,
) -> Result<BackupManifest> {
    let tables = snapshot_tables(snapshot, secret)?;
    let stored: Vec<Vec<u64>> = tables
        .0
        .iter()
        .enumerate()
        .map(|(part, table)| {
            let parent = new.parent.map(|(_, t)| &t.0[part]).filter(|p| p.page_size == table.page_size);
            (0..table.digests.len() as u64)
                .filter(|&no| parent.and_then(|p| p.digests.get(no as usize)) != Some(&table.digests[no as usize]))
                .collect()
        })
        .collect();
    let manifest = BackupManifest {
        format: BACKUP_FORMAT,
        store_id: new.store_id.to_owned(),
        backup_id: hex(&random_bytes::<16>()?),
        kind: if new.parent.is_some() { BackupKind::Increment } else { BackupKind::Full },
        parent: new
            .parent
            .map(|(h, _)| BackupParent { backup_id: h.manifest.backup_id.clone(), header_digest: h.digest_hex() }),
        taken_at: new.taken_at,
        parts: PARTS
            .iter()
            .zip(&tables.0)
            .zip(&stored)
            .map(|((file, table), stored)| BackupPart {
                file: (*file).to_owned(),
                bytes: table.digests.len() as u64 * u64::from(table.page_size),
                page_size: table.page_size,
                pages: table.digests.len() as u64,
                stored_pages: stored.len() as u64,
            })
            .collect(),
        key_generation: new.key.generation,
        kdf: new.key.kdf,
        wrapped_root: hex(&new.key.wrapped_root),
    };
    let signed = header_bytes(&manifest);
    let header_key = backup_key(secret, "header", &manifest.backup_id)?;
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, header_key.bytes()), &signed);
    let mut whole = digest::Context::new(&digest::SHA256);
    whole.update(&signed);
    whole.update(tag.as_ref());
    let aad: [u8; 32] = whole.finish().as_ref().try_into().expect("SHA-256 is 32 bytes");

    let partial = dest.with_extension("partial");
    let written = (|| {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&partial)
            .map_err(|e| io_error(&partial, "create", e))?;
        let mut out = BufWriter::with_capacity(CHUNK, file);
        out.write_all(&signed)
            .and_then(|()| out.write_all(tag.as_ref()))
            .map_err(|e| io_error(&partial, "write", e))?;
        let key = aead_key(backup_key(secret, "seal", &manifest.backup_id)?.bytes());
        let mut sealer = Sealer { out, key, aad, buffer: Zeroizing::new(Vec::with_capacity(CHUNK)), counter: 0 };
        sealer.write(&[PARTS.len() as u8])?;
        for table in &tables.0 {
            sealer.write(&table.page_size.to_be_bytes())?;
            sealer.write(&(table.digests.len() as u64).to_be_bytes())?;
        }
        for table in &tables.0 {
            for d in &table.digests {
                sealer.write(d)?;
            }
        }
        for ((file, table), stored) in PARTS.iter().zip(&tables.0).zip(&stored) {
            sealer.write(&(stored.len() as u64).to_be_bytes())?;
            let mut wanted = stored.iter().peekable();
            for_each_page(&snapshot.join(file), table.page_size, |no, page| {
                if wanted.peek() == Some(&&no) {
                    wanted.next();
                    sealer.write(&no.to_be_bytes())?;
                    sealer.write(page)?;
                }
                Ok(())
            })?;
            if wanted.next().is_some() {
                return Err(Error::storage(format!("{file} changed while it was being backed up")));
            }
        }
        let out = sealer.finish()?;
        let file = out.into_inner().map_err(|e| io_error(&partial, "write", e.into_error()))?;
        file.sync_all().map_err(|e| io_error(&partial, "write", e))?;
        std::fs::rename(&partial, dest).map_err(|e| io_error(dest, "create", e))
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    written.map(|()| manifest)
}

/// Reads the header and page tables of the parent backup `path` for an
/// increment of the store `store_id`.
pub(crate) fn read_parent(path: &Path, store_id: &str, secret: &Secret) -> Result<(Header, Tables)> {
    let (header, input) = read_header(path)?;
    if header.manifest.store_id != store_id {
        return Err(problem(
            path,
            BackupProblem::Foreign { found: header.manifest.store_id.clone(), expected: store_id.to_owned() },
        ));
    }
    header.authenticate(path, secret)?;
    let tables = Unsealer::new(path, &header, input, secret)?.tables()?;
    Ok((header, tables))
}

/// Reads the headers of a chain of backups and checks that it is one:
/// a full backup first, then increments each over the link before it, all
/// of one store (`expected_store`, when it is known).
pub(crate) fn read_chain(chain: &[PathBuf], expected_store: Option<&str>) -> Result<Vec<(PathBuf, Header)>> {
    let mut links: Vec<(PathBuf, Header)> = Vec::new();
    for path in chain {
        let (header, _) = read_header(path)?;
        links.push((path.clone(), header));
    }
    let Some((first_path, first)) = links.first() else {
        return Err(Error::out_of_range("backups", "backup_chain_empty", "no backup file was given"));
    };
    let store = expected_store.unwrap_or(&first.manifest.store_id).to_owned();
    for (i, (path, header)) in links.iter().enumerate() {
        let m = &header.manifest;
        if m.store_id != store {
            return Err(problem(path, BackupProblem::Foreign { found: m.store_id.clone(), expected: store }));
        }
        let chain_error = |text: String| Err(problem(path, BackupProblem::Chain(text)));
        match (i, m.kind, &m.parent) {
            (0, BackupKind::Full, _) => {}
            (0, BackupKind::Increment, parent) => {
                return chain_error(format!(
                    "it is an increment over backup {}; a chain begins with a full backup",
                    parent.as_ref().map_or("(none)", |p| p.backup_id.as_str())
                ));
            }
            (_, BackupKind::Full, _) => {
                return chain_error(format!(
                    "it is a full backup, but only the first link of a chain ({}) may be",
                    first_path.display()
                ));
            }
            (_, BackupKind::Increment, None) => return chain_error("it is an increment without a parent".into()),
            (_, BackupKind::Increment, Some(parent)) => {
                let before = &links[i - 1].1;
                if parent.backup_id == before.manifest.backup_id {
                    if parent.header_digest != before.digest_hex() {
                        return chain_error(format!(
                            "its parent {} is not the backup of that id given before it (its header differs)",
                            parent.backup_id
                        ));
                    }
                } else if let Some((at, (p, _))) =
                    links.iter().enumerate().find(|(_, (_, h))| h.manifest.backup_id == parent.backup_id)
                {
                    return chain_error(format!(
                        "links out of order: it is an increment over {} (link {} of the chain), but follows link {}",
                        p.display(),
                        at + 1,
                        i
                    ));
                } else {
                    return chain_error(format!(
                        "missing link: it is an increment over backup {}, which is not among the files given \
                         (the link before it is backup {})",
                        parent.backup_id, before.manifest.backup_id
                    ));
                }
            }
        }
    }
    Ok(links)
}

/// Rebuilds the store's two files, as they were at the chain's last link,
/// into `out_dir` (which must exist and hold neither file). Every link is
/// authenticated, and every page of the result is checked against the last
/// link's page table.
pub(crate) fn reconstruct(links: &[(PathBuf, Header)], secret: &Secret, out_dir: &Path) -> Result<()> {
    let mut files = Vec::new();
    for file in PARTS {
        let path = out_dir.join(file);
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| io_error(&path, "create", e))?;
        files.push(f);
    }
    let mut last_tables = None;
    for (path, header) in links {
        header.authenticate(path, secret)?;
        let (_, input) = read_header(path)?;
        let mut body = Unsealer::new(path, header, input, secret)?;
        let tables = body.tables()?;
        for (part, (table, out)) in tables.0.iter().zip(&mut files).enumerate() {
            let size = u64::from(table.page_size);
            let pages = table.digests.len() as u64;
            out.set_len(pages * size).map_err(|e| io_error(path, "restore from", e))?;
            let stored = body.u64()?;
            if stored > pages {
                return Err(problem(
                    path,
                    BackupProblem::Altered(format!("{} stores {stored} of {pages} pages", PARTS[part])),
                ));
            }
            let mut page = Zeroizing::new(vec![0u8; table.page_size as usize]);
            for _ in 0..stored {
                let no = body.u64()?;
                if no >= pages {
                    return Err(problem(path, BackupProblem::Altered(format!("a page number {no} past {pages}"))));
                }
                body.read(&mut page)?;
                out.seek(SeekFrom::Start(no * size))
                    .and_then(|_| out.write_all(&page))
                    .map_err(|e| io_error(path, "restore from", e))?;
            }
        }
        body.finish()?;
        last_tables = Some((path, tables));
    }
    let (last_path, tables) = last_tables.expect("a chain has a link");
    let key = digest_key(secret)?;
    for (part, (file, table)) in PARTS.iter().zip(&tables.0).enumerate() {
        let out = out_dir.join(file);
        std::fs::File::open(&out).and_then(|f| f.sync_all()).map_err(|e| io_error(&out, "write", e))?;
        let mut expected = table.digests.iter();
        for_each_page(&out, table.page_size, |no, page| {
            if expected.next() != Some(&page_digest(&key, part, no, page)) {
                return Err(problem(
                    last_path,
                    BackupProblem::Chain(format!(
                        "page {no} of {file} rebuilt from the chain differs from the page this backup recorded"
                    )),
                ));
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// A private directory for transient plain copies of a store's files
/// (a snapshot being sealed, a chain being rebuilt), removed on drop.
pub(crate) struct Staging(PathBuf);

impl Staging {
    /// Creates `.<what>-<random>` inside `parent`, readable by the owner only.
    pub(crate) fn new(parent: &Path, what: &str) -> Result<Staging> {
        let dir = parent.join(format!(".{what}-{}", hex(&random_bytes::<8>()?)));
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.recursive(true).create(&dir).map_err(|e| io_error(&dir, "create", e))?;
        Ok(Staging(dir))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
