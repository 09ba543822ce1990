package dev.ckptdiff.nativebridge;

import dev.ckptdiff.diff.ComputeEngine;
import dev.ckptdiff.diff.EngineProvider;

/** Registers {@code --engine torch}; nothing of DJL is loaded until {@link #create} is called. */
public final class TorchEngineProvider implements EngineProvider {
    @Override
    public String name() {
        return "torch";
    }

    @Override
    public ComputeEngine create(String device) {
        return new TorchEngine(device);
    }
}
