package dev.ckptdiff.convert;

import java.nio.file.Path;

import com.fasterxml.jackson.databind.JsonNode;

import dev.ckptdiff.diff.ModelView;
import dev.ckptdiff.diff.Views;
import dev.ckptdiff.mapping.Architecture;
import dev.ckptdiff.mapping.Architectures;
import dev.ckptdiff.megatron.MegatronArgs;
import dev.ckptdiff.megatron.MegatronCheckpoint;
import dev.ckptdiff.torchdist.TorchDistCheckpoint;
import dev.ckptdiff.torchdist.TorchDistViews;

/** A converter's Megatron input, legacy shards or torch_dist: its args, layer count and view under HF names. */
sealed interface MegatronSource extends AutoCloseable {
    MegatronArgs args();

    long numLayers();

    ModelView view(Architecture arch, JsonNode config);

    /** The architecture when no config.json is given: from the keys (vision-language families) or args. */
    Architecture architecture();

    @Override
    void close();

    static MegatronSource open(Path path) {
        return TorchDistCheckpoint.isTorchDist(path) ? new Dist(TorchDistCheckpoint.open(path))
                : new Legacy(MegatronCheckpoint.open(path));
    }

    record Legacy(MegatronCheckpoint m) implements MegatronSource {
        public MegatronArgs args() {
            return m.args();
        }

        public long numLayers() {
            return m.numLayers();
        }

        public ModelView view(Architecture arch, JsonNode config) {
            return Views.megatron(m, arch, config, "source");
        }

        public Architecture architecture() {
            return Architectures.fromMegatron(m);
        }

        public void close() {
            m.close();
        }
    }

    record Dist(TorchDistCheckpoint d) implements MegatronSource {
        public MegatronArgs args() {
            return d.args();
        }

        public long numLayers() {
            return d.numLayers();
        }

        public ModelView view(Architecture arch, JsonNode config) {
            return TorchDistViews.view(d, arch, config, "source");
        }

        public Architecture architecture() {
            return Architectures.fromArgs(d.args());
        }

        public void close() {
            d.close();
        }
    }
}
