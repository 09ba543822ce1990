package dev.ckptdiff.torch;

import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.List;

import dev.ckptdiff.io.BadInputException;
import dev.ckptdiff.io.MappedFile;
import dev.ckptdiff.pickle.PickleLimits;
import dev.ckptdiff.pickle.Py;
import dev.ckptdiff.pickle.PyValues;
import dev.ckptdiff.pickle.Unpickler;
import dev.ckptdiff.zip.ZipArchive;
import dev.ckptdiff.zip.ZipEntry;

/**
 * A {@code torch.save} file: the zip archive, its pickle read as inert values with tensors as
 * lazy views of the mapped storages. Closing it unmaps every tensor it produced.
 */
public final class TorchFile implements AutoCloseable {
    private static final byte[] LEGACY_MAGIC = {(byte) 0x80, 0x02, (byte) 0x8a, 0x0a, 0x6c, (byte) 0xfc, (byte) 0x9c,
            0x46, (byte) 0xf9, 0x20, 0x6a, (byte) 0xa8, 0x50, 0x19};

    private final ZipArchive zip;
    private final String prefix;
    private final Py root;
    private List<String> duplicateKeys;

    private TorchFile(ZipArchive zip, String prefix, Py root) {
        this.zip = zip;
        this.prefix = prefix;
        this.root = root;
    }

    public static TorchFile open(Path path) {
        return of(MappedFile.open(path));
    }

    /** A torch.save archive in a mapped file or a window of one; closing the result closes {@code file}. */
    public static TorchFile of(MappedFile file) {
        Path path = file.path();
        try {
            if (!ZipArchive.looksLikeZip(file)) {
                throw BadInputException.at(path, 0, isLegacy(file)
                        ? "legacy (pre-1.6) torch.save format, which is not supported: re-save it with torch >= 1.6"
                        : "not a torch.save zip archive (expected a zip local header, 'PK\\3\\4')");
            }
            ZipArchive zip = ZipArchive.open(file);
            return read(zip);
        } catch (RuntimeException e) {
            file.close();
            throw e;
        }
    }

    private static boolean isLegacy(MappedFile f) {
        if (f.size() < LEGACY_MAGIC.length) {
            return false;
        }
        for (int i = 0; i < LEGACY_MAGIC.length; i++) {
            if (f.readByte(i, "magic") != LEGACY_MAGIC[i]) {
                return false;
            }
        }
        return true;
    }

    private static TorchFile read(ZipArchive zip) {
        Path path = zip.file().path();
        ZipEntry pkl = null;
        for (ZipEntry e : zip.entries().values()) {
            int slash = e.name().indexOf('/');
            if (slash > 0 && e.name().substring(slash).equals("/data.pkl")) {
                if (pkl != null) {
                    throw BadInputException.in(path, "two pickles, '" + pkl.name() + "' and '" + e.name() + "'");
                }
                pkl = e;
            }
        }
        if (pkl == null) {
            throw BadInputException.in(path, "zip archive has no '<prefix>/data.pkl' entry: not a torch.save file");
        }
        String prefix = pkl.name().substring(0, pkl.name().length() - "data.pkl".length());
        ZipEntry order = zip.entries().get(prefix + "byteorder");
        if (order != null && order.size() > 64) { // "little\n" at most: never read a hostile one whole
            throw BadInputException.in(path, "byteorder entry holds " + order.size() + " bytes, expected 'little'");
        }
        if (order != null && !ZipArchive.utf8(zip.data(order)).strip().equals("little")) {
            throw BadInputException.in(path, "byteorder is '" + ZipArchive.utf8(zip.data(order)).strip()
                    + "'; only little-endian archives are read");
        }
        String source = path + "!" + pkl.name();
        TorchReducer reducer = new TorchReducer(path.toString(), source, new TorchReducer.Entries() {
            @Override
            public long size(String key) {
                ZipEntry e = zip.entries().get(prefix + "data/" + key);
                return e == null ? -1 : e.size();
            }

            @Override
            public MemorySegment bytes(String key) {
                return zip.data(zip.entries().get(prefix + "data/" + key));
            }
        });
        MemorySegment pickle = zip.data(pkl);
        Py root = Unpickler.load(pickle, source, reducer, PickleLimits.DEFAULT);
        return new TorchFile(zip, prefix, root);
    }

    public Path path() {
        return zip.file().path();
    }

    public long fileSize() {
        return zip.file().size();
    }

    /** The archive's record prefix (its folder name inside the zip), with a trailing slash. */
    public String prefix() {
        return prefix;
    }

    public Py root() {
        return root;
    }

    /**
     * Dict keys the pickle set twice ({@code model -> 'decoder.w'}): the last value is the one read, as
     * {@code torch.load} does, but a file that says two things about one key deserves a warning.
     */
    public synchronized List<String> duplicateKeys() {
        if (duplicateKeys == null) {
            duplicateKeys = PyValues.duplicateKeys(root, 100);
        }
        return duplicateKeys;
    }

    /** {@link #duplicateKeys()} as sentences for a report, naming this file by its folder and name. */
    public List<String> duplicateKeyWarnings() {
        Path dir = path().getParent() == null ? null : path().getParent().getFileName();
        String where = (dir == null ? "" : dir + "/") + path().getFileName();
        return duplicateKeys().stream().map(d -> where + ": key set twice in the pickle, the last value is read"
                + " (as torch.load does): " + d).toList();
    }

    @Override
    public void close() {
        zip.close();
    }
}
