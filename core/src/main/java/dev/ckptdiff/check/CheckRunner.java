package dev.ckptdiff.check;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;

import dev.ckptdiff.hf.HfCheckpoint;
import dev.ckptdiff.locate.Copy;
import dev.ckptdiff.locate.Locator;
import dev.ckptdiff.mapping.Architecture;
import dev.ckptdiff.mapping.Architectures;
import dev.ckptdiff.megatron.MegatronCheckpoint;
import dev.ckptdiff.torchdist.TorchDistCheckpoint;

/** {@code check PATH}: every copy the path holds, each against its own description, and the layout. */
public final class CheckRunner {
    private CheckRunner() {
    }

    public static List<Section> run(Path path, LayoutCheck.Layout layout) {
        List<Section> out = new ArrayList<>();
        for (Locator.Role role : Locator.roles(path)) {
            Copy hfCopy = role.find(Copy.Kind.HF);
            JsonNode config = null;
            ModelSpec spec = null;
            if (hfCopy != null) {
                try (HfCheckpoint hf = HfCheckpoint.open(hfCopy.path())) {
                    out.add(HfCheck.run(hf));
                    config = hf.config();
                    spec = config.size() > 0 ? ModelSpec.of(config, hf.dir().resolve("config.json").toString()) : null;
                }
            }
            Copy megCopy = role.find(Copy.Kind.MEGATRON);
            if (megCopy != null && TorchDistCheckpoint.isTorchDist(megCopy.path())) {
                try (TorchDistCheckpoint d = TorchDistCheckpoint.open(megCopy.path())) {
                    Architecture arch = config != null && config.size() > 0
                            ? Architectures.fromConfig(config, hfCopy.path() + "/config.json") : Architectures.fromArgs(d.args());
                    out.add(TorchDistCheck.run(d, arch, config));
                }
            } else if (megCopy != null) {
                try (MegatronCheckpoint m = MegatronCheckpoint.open(megCopy.path())) {
                    Architecture arch = config != null && config.size() > 0
                            ? Architectures.fromConfig(config, hfCopy.path() + "/config.json") : Architectures.fromMegatron(m);
                    out.add(MegatronCheck.run(m, arch, config));
                }
            }
            if (layout != null) {
                if (spec != null) {
                    out.add(LayoutCheck.run(spec, layout, LayoutCheck.Names.CLI));
                } else {
                    Section s = new Section("Parallel layout", role.dir().toString());
                    s.findings().add(Finding.warning("--tp/--pp", "layout rules need the HF config.json, and " + role.dir()
                            + " holds none"));
                    out.add(s);
                }
            }
        }
        return out;
    }
}
