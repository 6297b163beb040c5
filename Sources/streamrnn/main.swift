import StreamRNNCommands

StreamRNN.runMain()
