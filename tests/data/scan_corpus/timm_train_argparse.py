#!/usr/bin/env python3
""" ImageNet fine-tuning script in the style of timm's train.py (abridged). """
import argparse

import timm
import torch
import torchvision
from timm.data import create_transform, resolve_data_config

parser = argparse.ArgumentParser(description='PyTorch ImageNet Training')
group = parser.add_argument_group('Model parameters')
group.add_argument('--model', default='resnet50', type=str, metavar='MODEL',
                   help='Name of model to train (default: "resnet50")')
group.add_argument('--pretrained', action='store_true', default=False,
                   help='Start with pretrained version of specified network (if avail)')
group.add_argument('--initial-checkpoint', default='', type=str, metavar='PATH',
                   help='Load this checkpoint into model after initialization (default: none)')
group.add_argument('--num-classes', type=int, default=None, metavar='N')
group.add_argument('--teacher', default='convnext_base.fb_in22k_ft_in1k', type=str)
group.add_argument('--torchvision-baseline', action='store_true')


def main():
    args = parser.parse_args()
    model = timm.create_model(  # expect: timm.create_model ids=timm/resnet50.a1_in1k
        args.model,
        pretrained=args.pretrained,
        num_classes=args.num_classes,
        checkpoint_path=args.initial_checkpoint,
    )
    teacher = timm.create_model(args.teacher, pretrained=True, num_classes=args.num_classes)  # expect: timm.create_model ids=timm/convnext_base.fb_in22k_ft_in1k
    if args.torchvision_baseline:
        baseline = torchvision.models.resnet50(pretrained=args.pretrained)  # expect: torchvision.models.resnet50 ids=https://download.pytorch.org/models/resnet50-0676ba61.pth
    data_config = resolve_data_config(vars(args), model=model)
    transform = create_transform(**data_config, is_training=True)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return model, teacher, transform, optimizer


if __name__ == '__main__':
    main()
