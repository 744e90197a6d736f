"""The words of a derivation, in English and Bengali.

Each entry is a str.format template; math inside it is written between $ signs (rendered as inline
math in every format). Bengali keeps the technical terms in Latin script as the seed notes write
them (Gradient, Chain Rule, Learning Rate, delta); the user's own title and description are never
translated.
"""

from __future__ import annotations

LANGUAGES: tuple[str, ...] = ("en", "bn")

TEXTS: dict[str, dict[str, str]] = {
    # ------------------------------------------------------------------ section titles
    "t_network": {"en": "The network and its notation", "bn": "নেটওয়ার্ক এবং চিহ্নগুলো"},
    "t_forward": {"en": "The forward pass", "bn": "Forward Propagation"},
    "t_loss": {"en": "The loss", "bn": "Cost Function"},
    "t_chain": {"en": "The chain rule for {param}", "bn": "{param} এর জন্য Chain Rule"},
    "t_all_gradients": {"en": "Every parameter's derivative", "bn": "প্রতিটি প্যারামিটারের Gradient"},
    "t_delta": {"en": "The same in delta form", "bn": "একই হিসাব delta রূপে"},
    "t_summary": {"en": "Summary: the four equations", "bn": "সারাংশ: চারটি সমীকরণ"},
    "t_update": {"en": "One gradient-descent update", "bn": "Gradient Descent এর একটি আপডেট"},
    "t_descent": {
        "en": "Gradient descent on {param} until the step is small",
        "bn": "{param} এর উপর Gradient Descent, যতক্ষণ না step size ছোট হয়",
    },
    "t_code": {"en": "Appendix: the code that runs", "bn": "পরিশিষ্ট: যে কোড চলে"},
    # ------------------------------------------------------------------ the network
    "figure": {
        "en": "The network: every neuron and connection, with the shape of each layer.",
        "bn": "নেটওয়ার্ক: প্রতিটি নিউরন ও সংযোগ, সাথে প্রতিটি লেয়ারের আকার।",
    },
    "figure_param": {
        "en": "The network; highlighted: every path from {param} to the loss.",
        "bn": "নেটওয়ার্ক; চিহ্নিত অংশটি হলো {param} থেকে loss পর্যন্ত প্রতিটি পথ।",
    },
    "network": {
        "en": "The network has {L} layers of sizes {sizes} and {n_params} trainable parameters; the loss is {loss}.",
        "bn": "নেটওয়ার্কটিতে লেয়ারের সংখ্যা {L}; লেয়ারগুলোর আকার {sizes}, এবং মোট {n_params}টি trainable প্যারামিটার আছে; loss হলো {loss}।",
    },
    "fixed": {
        "en": "The parameters {fixed} are held fixed at their values; only {trained} is trained, so only its derivative is needed.",
        "bn": "{fixed} প্যারামিটারগুলো তাদের মানে স্থির রাখা হয়েছে; শুধু {trained} train করা হবে, তাই শুধু এর derivative দরকার।",
    },
    "h_symbol": {"en": "symbol", "bn": "চিহ্ন"},
    "h_meaning": {"en": "meaning", "bn": "অর্থ"},
    "n_layers": {
        "en": "the number of layers (each a weighted sum and an activation)",
        "bn": "লেয়ারের সংখ্যা (প্রতিটিতে একটি weighted sum ও একটি activation)",
    },
    "n_l": {"en": "the number of neurons in layer $l$: {sizes}", "bn": "লেয়ার $l$ এর নিউরনের সংখ্যা: {sizes}"},
    "m_outputs": {"en": "the number of outputs", "bn": "output এর সংখ্যা"},
    "n_samples": {"en": "the number of samples", "bn": "sample এর সংখ্যা"},
    "sample_n": {"en": "the input and the target of sample $n$", "bn": "sample $n$ এর input ও target"},
    "z_meaning": {"en": "the weighted sum of layer $l$", "bn": "লেয়ার $l$ এর weighted sum"},
    "a_meaning": {"en": "the activation of layer $l$", "bn": "লেয়ার $l$ এর activation"},
    "yhat_meaning": {"en": "the prediction", "bn": "prediction (পূর্বাভাস)"},
    "cost_meaning": {"en": "the cost of sample $n$ alone", "bn": "শুধু sample $n$ এর cost"},
    "loss_meaning": {"en": "the loss over all samples", "bn": "সব sample মিলিয়ে loss"},
    "delta_meaning": {
        "en": "the error (delta) of layer $l$ for one sample",
        "bn": "একটি sample এর জন্য লেয়ার $l$ এর ত্রুটি (delta)",
    },
    "alpha_meaning": {"en": "the learning rate", "bn": "Learning Rate"},
    "activations": {
        "en": "The activations are {acts}; their derivatives are:",
        "bn": "Activation function গুলো হলো {acts}; এদের derivative:",
    },
    "loss_sse": {
        "en": "{symbol}, the sum of squared residuals",
        "bn": "{symbol} (Sum of Squared Residuals, বর্গ ত্রুটির যোগফল)",
    },
    "loss_mse": {"en": "{symbol}, the mean squared error", "bn": "{symbol} (Mean Squared Error, গড় বর্গ ত্রুটি)"},
    "loss_quadratic": {"en": "{symbol}, the quadratic cost", "bn": "{symbol} (quadratic cost)"},
    "loss_bce": {"en": "{symbol}, the binary cross-entropy", "bn": "{symbol} (binary cross-entropy)"},
    "loss_cross_entropy": {"en": "{symbol}, the cross-entropy", "bn": "{symbol} (cross-entropy)"},
    # ------------------------------------------------------------------ the forward pass
    "forward": {
        "en": "Each layer takes a weighted sum of the previous layer's activations and applies its activation function:",
        "bn": "প্রতিটি লেয়ার আগের লেয়ারের activation গুলোর weighted sum নেয় এবং তার activation function প্রয়োগ করে:",
    },
    "closed_form": {
        "en": "Composing the layers gives the prediction as a function of every parameter:",
        "bn": "লেয়ারগুলো একটির পর একটি প্রয়োগ করলে prediction প্রতিটি প্যারামিটারের একটি function হয়:",
    },
    "values": {"en": "The parameter values:", "bn": "প্যারামিটারগুলোর মান:"},
    "forward_table": {
        "en": "The forward pass with these values, sample by sample in the data's order ({N}):",
        "bn": "এই মানগুলো দিয়ে forward pass, ডেটার ক্রমে প্রতিটি sample এর জন্য ({N}):",
    },
    "h_quantity": {"en": "quantity", "bn": "রাশি"},
    # ------------------------------------------------------------------ the loss
    "loss": {
        "en": "The loss is {loss}: the cost of each sample, summed over the samples and scaled by {scale}.",
        "bn": "Loss হলো {loss}: প্রতিটি sample এর cost, সব sample এর উপর যোগ করে {scale} দিয়ে গুণ করা।",
    },
    "loss_sum": {
        "en": "The loss is {loss}: the cost of each sample, summed over the samples.",
        "bn": "Loss হলো {loss}: প্রতিটি sample এর cost, সব sample এর উপর যোগ করা।",
    },
    "loss_total": {"en": "With the costs of the table above:", "bn": "উপরের টেবিলের cost গুলো দিয়ে:"},
    # ------------------------------------------------------------------ the chain rule
    "chain": {
        "en": "The loss depends on {param} through {paths} from {param} to the loss. Along each path the derivative "
        "is the product of the local derivatives; the paths add up, then the samples.",
        "bn": "Loss {param} এর উপর নির্ভর করে {param} থেকে loss পর্যন্ত {paths} দিয়ে। প্রতিটি পথে derivative হলো local "
        "derivative গুলোর গুণফল; তারপর সব পথ যোগ হয়, তারপর সব sample।",
    },
    "one_path": {"en": "one path", "bn": "একটি পথ"},
    "n_paths": {"en": "{n} paths", "bn": "{n}টি পথ"},
    "too_many_paths": {
        "en": "There are {n} paths (more than {max} to write out one by one); the delta form below sums them all.",
        "bn": "এখানে {n}টি পথ আছে (একটি একটি করে লেখার জন্য {max} এর বেশি); নিচের delta রূপ সবগুলো একসাথে যোগ করে।",
    },
    "path": {
        "en": "Path {k}: {path}. Each factor, its expression, and its number for every sample:",
        "bn": "পথ {k}: {path}। প্রতিটি factor, তার রূপ, এবং প্রতিটি sample এর জন্য তার মান:",
    },
    "path_symbolic": {
        "en": "Path {k}: {path}. Each factor and its expression:",
        "bn": "পথ {k}: {path}। প্রতিটি factor ও তার রূপ:",
    },
    "h_factor": {"en": "factor", "bn": "factor"},
    "h_local": {"en": "expression", "bn": "রূপ"},
    "h_product": {"en": "product", "bn": "গুণফল"},
    "h_path": {"en": "path", "bn": "পথ"},
    "sum_paths": {
        "en": "Adding the paths gives each sample's derivative:",
        "bn": "পথগুলো যোগ করলে প্রতিটি sample এর derivative পাওয়া যায়:",
    },
    "sum_samples": {"en": "Adding the samples, with the loss's scale:", "bn": "Sample গুলো যোগ করে, loss এর scale সহ:"},
    "assumption": {
        "en": "This assumes that each target row sums to one, {sum}; in general {general}.",
        "bn": "এখানে ধরা হয়েছে প্রতিটি target সারির যোগফল এক, {sum}; সাধারণভাবে {general}।",
    },
    # ------------------------------------------------------------------ all gradients
    "all_gradients": {
        "en": "All {n} derivatives at once, each one entry of the delta form (section below):",
        "bn": "সবগুলো ({n}টি) derivative একসাথে, প্রতিটি delta রূপের একটি উপাদান (পরের অংশ দেখুন):",
    },
    "h_param": {"en": "parameter", "bn": "প্যারামিটার"},
    "h_value": {"en": "value", "bn": "মান"},
    "h_delta_form": {"en": "delta form", "bn": "delta রূপ"},
    # ------------------------------------------------------------------ delta form
    "delta": {
        "en": "Writing delta for the derivative of one sample's cost with respect to a layer's weighted sum turns the "
        "chain rule into four equations ({shapes}):",
        "bn": "একটি sample এর cost এর, লেয়ারের weighted sum এর সাপেক্ষে derivative কে delta লিখলে Chain Rule চারটি "
        "সমীকরণে দাঁড়ায় ({shapes}):",
    },
    "delta_sample": {
        "en": "The deltas of sample {n}, from the output back:",
        "bn": "Sample {n} এর delta গুলো, output থেকে পিছনের দিকে:",
    },
    "delta_gradients": {
        "en": "Putting the samples' deltas side by side as the columns of a matrix {D} (and likewise {A}), "
        "the gradients are matrix products, scaled by {scale}; {ones} is the vector of ones:",
        "bn": "Sample গুলোর delta পাশাপাশি একটি ম্যাট্রিক্স {D} এর কলাম হিসেবে রাখলে (একইভাবে {A}), "
        "gradient গুলো ম্যাট্রিক্স গুণফল হয়, {scale} দিয়ে গুণ করা; {ones} হলো এক দিয়ে গঠিত vector:",
    },
    "delta_gradients_sum": {
        "en": "Putting the samples' deltas side by side as the columns of a matrix {D} (and likewise {A}), "
        "the gradients are matrix products; {ones} is the vector of ones:",
        "bn": "Sample গুলোর delta পাশাপাশি একটি ম্যাট্রিক্স {D} এর কলাম হিসেবে রাখলে (একইভাবে {A}), "
        "gradient গুলো ম্যাট্রিক্স গুণফল হয়; {ones} হলো এক দিয়ে গঠিত vector:",
    },
    # ------------------------------------------------------------------ summary
    "h_equation": {"en": "step", "bn": "ধাপ"},
    "h_formula": {"en": "formula", "bn": "গাণিতিক রূপ"},
    "h_explanation": {"en": "explanation", "bn": "ব্যাখ্যা"},
    "output_error": {"en": "Output Error", "bn": "Output Error"},
    "output_error_text": {"en": "how far the prediction is from the target", "bn": "Prediction ও Actual মানের পার্থক্য"},
    "hidden_error": {"en": "Hidden Error", "bn": "Hidden Error"},
    "hidden_error_text": {
        "en": "the error passed back from the next layer",
        "bn": "পরবর্তী লেয়ার থেকে ব্যাকপ্রোপাগেটেড ত্রুটি",
    },
    "weight_gradient": {"en": "Weight Gradient", "bn": "Weight Gradient"},
    "weight_gradient_text": {"en": "which way to change the weights", "bn": "ওজন পরিবর্তনের নির্দেশনা"},
    "bias_gradient": {"en": "Bias Gradient", "bn": "Bias Gradient"},
    "bias_gradient_text": {"en": "which way to change the biases", "bn": "বায়াস পরিবর্তনের নির্দেশনা"},
    "update": {"en": "Update", "bn": "Update"},
    "update_text": {"en": "a step of gradient descent", "bn": "Gradient Descent দিয়ে আপডেট"},
    # ------------------------------------------------------------------ update
    "update_no_lr": {
        "en": "Gradient descent moves every parameter against its slope by the learning rate times the derivative:",
        "bn": "Gradient Descent প্রতিটি প্যারামিটারকে slope এর বিপরীত দিকে সরায়, Learning Rate গুণ derivative পরিমাণ:",
    },
    "update_lr": {
        "en": "Gradient descent moves every parameter against its slope, with learning rate {lr}:",
        "bn": "Gradient Descent প্রতিটি প্যারামিটারকে slope এর বিপরীত দিকে সরায়, Learning Rate {lr} দিয়ে:",
    },
    "step_size": {
        "en": "The step size is the learning rate times the slope:",
        "bn": "Step size হলো Learning Rate গুণ slope:",
    },
    "new_value": {
        "en": "The new value of {param} is the old value minus the step size:",
        "bn": "{param} এর নতুন মান হলো পুরানো মান থেকে step size বিয়োগ:",
    },
    "update_matrices": {
        "en": "The update of every weight matrix and bias vector:",
        "bn": "প্রতিটি ওজন ম্যাট্রিক্স ও বায়াস vector এর আপডেট:",
    },
    "h_old": {"en": "old value", "bn": "পুরানো মান"},
    "h_new": {"en": "new", "bn": "নতুন"},
    # ------------------------------------------------------------------ descent
    "descent": {
        "en": "Repeating the update of {param} with {lr}, the other parameters held fixed, until the step size is below {tol}:",
        "bn": "অন্য প্যারামিটারগুলো স্থির রেখে {lr} দিয়ে {param} এর আপডেট বারবার করা হয়, যতক্ষণ না step size {tol} এর চেয়ে ছোট হয়:",
    },
    "h_step": {"en": "step", "bn": "ধাপ"},
    "h_step_size": {"en": "step size ", "bn": "step size "},
    "rows_not_shown": {"en": "({n} rows not shown)", "bn": "({n}টি সারি দেখানো হয়নি)"},
    "converged": {
        "en": "After {n} updates the step is below the tolerance: {param} has converged to {value}.",
        "bn": "{n}টি আপডেটের পর step size tolerance এর চেয়ে ছোট: {param} এর মান {value} এ converge করেছে।",
    },
    "not_converged": {
        "en": "After {n} updates the step is still not below the tolerance.",
        "bn": "{n}টি আপডেটের পরও step size tolerance এর চেয়ে ছোট হয়নি।",
    },
    # ------------------------------------------------------------------ l2 penalty and tied parameters
    "l2_objective": {
        "en": "With the l2 penalty ({lam}) the objective {J} is the loss plus {lam_} times the sum of the squared "
        "weights (every entry of every weight matrix; the biases have no penalty):",
        "bn": "l2 penalty ({lam}) সহ objective {J} হলো loss যোগ {lam_} গুণ সব weight এর বর্গের যোগফল (প্রতিটি weight "
        "ম্যাট্রিক্সের প্রতিটি উপাদান; bias এর কোনো penalty নেই):",
    },
    "l2_total": {
        "en": "The penalty at these weights, and the objective:",
        "bn": "এই weight গুলোতে penalty, এবং objective:",
    },
    "l2_meaning": {"en": "the objective: the loss plus the l2 penalty", "bn": "objective: loss যোগ l2 penalty"},
    "lam_meaning": {"en": "the l2 coefficient", "bn": "l2 coefficient"},
    "l2_weight": {
        "en": "{param} is a weight, so the penalty adds its own derivative {term}:",
        "bn": "{param} একটি weight, তাই penalty তার নিজের derivative {term} যোগ করে:",
    },
    "l2_gradients": {
        "en": "Every weight matrix's gradient gains the penalty's derivative {term}:",
        "bn": "প্রতিটি weight ম্যাট্রিক্সের gradient এ penalty এর derivative {term} যোগ হয়:",
    },
    "l2_summary": {"en": "l2 penalty", "bn": "l2 penalty"},
    "l2_summary_text": {
        "en": "the penalty's derivative added to every weight's",
        "bn": "প্রতিটি weight এর gradient এ penalty এর derivative যোগ",
    },
    "tied": {
        "en": "Tied parameters (one parameter filling several entries): {ties}.",
        "bn": "Tied প্যারামিটার (একটি প্যারামিটার কয়েকটি জায়গায় বসে): {ties}।",
    },
    "tied_uses": {
        "en": "{param} fills {n} entries ({entries}); the loss depends on it through each of them, so its derivative "
        "is the sum of the derivatives with respect to its uses, each taken as if the entry were its own "
        "parameter (all at the value {param} has):",
        "bn": "{param} {n}টি জায়গায় বসে ({entries}); loss প্রতিটির মধ্য দিয়ে এর উপর নির্ভর করে, তাই এর derivative হলো "
        "প্রতিটি ব্যবহারের সাপেক্ষে derivative গুলোর যোগফল, প্রতিটি জায়গাকে আলাদা প্যারামিটার ধরে (সবগুলোর মান {param} এর মান):",
    },
    "t_use": {"en": "Use {k}: the entry {entry}", "bn": "ব্যবহার {k}: {entry} এর জায়গা"},
    "tied_sum": {"en": "Adding the uses:", "bn": "ব্যবহারগুলো যোগ করে:"},
    # ------------------------------------------------------------------ appendix: closed forms
    "t_closed": {"en": "Appendix: the closed forms", "bn": "পরিশিষ্ট: closed form"},
    "closed_appendix": {
        "en": "The prediction written out as a closed form of the parameters and the input, broken over lines "
        "(the main text works factor by factor instead):",
        "bn": "Prediction কে প্যারামিটার ও input এর closed form হিসেবে লেখা, কয়েক লাইনে ভাঙা (মূল লেখায় "
        "এর বদলে factor ধরে ধরে হিসাব করা হয়েছে):",
    },
    "closed_derivative": {
        "en": "The derivative of one sample's cost with respect to {param} as a closed form:",
        "bn": "{param} এর সাপেক্ষে একটি sample এর cost এর derivative, closed form হিসেবে:",
    },
    "closed_too_long": {
        "en": "(The closed form of {what} has about {n} terms, too many to print legibly; it is left out.)",
        "bn": "({what} এর closed form এ প্রায় {n}টি পদ, পড়ার মতো করে ছাপার জন্য অনেক বেশি; তাই বাদ দেওয়া হলো।)",
    },
    # ------------------------------------------------------------------ code
    "code": {
        "en": "The reference NumPy functions symprop checks the derivation against, rendered by latexify-py.",
        "bn": "যে NumPy reference function গুলোর সাথে symprop এই হিসাব মিলিয়ে দেখে, latexify-py দিয়ে লেখা।",
    },
}


def check_lang(lang: str) -> str:
    """The language code, or ValueError naming the valid ones."""
    if lang not in LANGUAGES:
        raise ValueError(f"unknown lang {lang!r}; valid: {', '.join(LANGUAGES)}")
    return lang


def lookup(key: str, lang: str) -> str:
    return TEXTS[key][check_lang(lang)]
