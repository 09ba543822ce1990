package dev.ckptdiff.torch;

/** A torch dtype named in a pickle (for example {@code args.params_dtype = torch.bfloat16}). */
public record TorchDtype(String name) {
    @Override
    public String toString() {
        return "torch." + name;
    }
}
