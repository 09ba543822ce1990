package dev.ckptdiff.megatron;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import dev.ckptdiff.io.BadInputException;
import dev.ckptdiff.pickle.Py;
import dev.ckptdiff.tensor.Tensor;
import dev.ckptdiff.torch.TorchFile;
import dev.ckptdiff.torch.TorchTensor;

/**
 * One {@code mp_rank_*} folder's {@code model_optim_rng.pt}: its ranks and its model state dicts
 * ({@code model}, or {@code model0}, {@code model1}, ... with a virtual pipeline), as tensor views.
 */
public final class RankShard implements AutoCloseable {
    private final String folder;
    private final int tpRank;
    private final int ppRank;
    private final int epRank;
    private final TorchFile file;
    private final List<Map<String, Tensor>> chunks;
    private final List<String> skipped;
    private int extraStates;

    RankShard(String folder, int tpRank, int ppRank, int epRank, TorchFile file) {
        this.folder = folder;
        this.tpRank = tpRank;
        this.ppRank = ppRank;
        this.epRank = epRank;
        this.file = file;
        this.skipped = new ArrayList<>();
        this.chunks = readChunks();
    }

    private List<Map<String, Tensor>> readChunks() {
        Py.Dict root = rootDict(file);
        List<Map<String, Tensor>> out = new ArrayList<>();
        Py single = root.get("model");
        if (single != null) {
            out.add(stateDict(single, "model"));
            return out;
        }
        // One pass over the keys (the last of a repeated key wins, as in Python): a file may hold
        // many chunks, and looking each up by a scan would be quadratic.
        Map<String, Py> byName = new HashMap<>();
        for (int i = 0; i < root.size(); i++) {
            if (root.keys.get(i) instanceof Py.Str(String k) && k.startsWith("model")) {
                byName.put(k, root.values.get(i));
            }
        }
        for (int v = 0; byName.get("model" + v) != null; v++) {
            out.add(stateDict(byName.get("model" + v), "model" + v));
        }
        if (out.isEmpty()) {
            throw BadInputException.in(file.path(), "no 'model' (or 'model0', 'model1', ...) key: not a Megatron"
                    + " model checkpoint (keys: " + keys(root) + ")");
        }
        return out;
    }

    static Py.Dict rootDict(TorchFile file) {
        if (!(file.root() instanceof Py.Dict d)) {
            throw BadInputException.in(file.path(), "top-level value is not a dict: not a Megatron checkpoint");
        }
        return d;
    }

    private Map<String, Tensor> stateDict(Py v, String key) {
        if (!(v instanceof Py.Dict d)) {
            throw BadInputException.in(file.path(), "'" + key + "' is not a state dict");
        }
        String origin = folder + "/" + file.path().getFileName();
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (int i = 0; i < d.size(); i++) {
            if (!(d.keys.get(i) instanceof Py.Str(String name))) {
                throw BadInputException.in(file.path(), "'" + key + "' has a key that is not a string");
            }
            Py value = d.values.get(i);
            if (name.endsWith("._extra_state")) {
                extraStates++;
                continue; // Transformer Engine's FP8 metadata (None, bytes tensor or BytesIO): not a weight
            }
            if (value instanceof Py.Domain dom && dom.value() instanceof TorchTensor t) {
                tensors.put(name, t.named(name, origin));
            } else {
                skipped.add(key + "." + name); // not a tensor and not Transformer Engine's extra state
            }
        }
        return tensors;
    }

    private static String keys(Py.Dict d) {
        List<String> names = new ArrayList<>();
        for (Py k : d.keys) {
            names.add(k instanceof Py.Str(String s) ? s : String.valueOf(k));
        }
        return String.join(", ", names);
    }

    /** The folder name, e.g. {@code mp_rank_01_000}. */
    public String folder() {
        return folder;
    }

    public int tpRank() {
        return tpRank;
    }

    public int ppRank() {
        return ppRank;
    }

    public int epRank() {
        return epRank;
    }

    public TorchFile file() {
        return file;
    }

    public Path path() {
        return file.path();
    }

    /** Model state dicts, one per virtual pipeline chunk, each in saved order. */
    public List<Map<String, Tensor>> chunks() {
        return chunks;
    }

    /** How many {@code _extra_state} entries the model dicts hold (skipped: not weights). */
    public int extraStates() {
        return extraStates;
    }

    /** Non-tensor model entries that are not {@code _extra_state}. */
    public List<String> skipped() {
        return skipped;
    }

    @Override
    public void close() {
        file.close();
    }
}
